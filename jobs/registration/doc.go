// Package registration owns voter registration as Rock the Vote's Rocky API
// v4 defines it: the state facts and ZIP tables (Reference), the
// field and state rules a registration must pass (Validate), eligibility by
// age under each state's pre-registration rule, the National Mail Voter
// Registration Form PDF (RenderPDF) and the jobs that produce it and send
// the confirmation and reminder e-mails.
//
// Guarantees: a registration that passes Validate is complete and correct
// for the federal form and its state's rules; the ID number is encrypted
// before it reaches storage and leaves this package only inside the PDF;
// messages come in every supported language (en, es).
package registration
