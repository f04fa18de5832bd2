package registration

import (
	"fmt"
	"html/template"
	"strings"

	"github.com/turnoutdev/turnout/jobs/notify"
	"github.com/turnoutdev/turnout/storage"
)

// emailKind selects a template.
type emailKind int

const (
	emailConfirmation emailKind = iota
	emailReminder
	emailGRegistration
)

type emailText struct {
	subject, greeting, body, link, mail, stop, sign string
}

var emailTexts = map[string]map[emailKind]emailText{
	"en": {
		emailConfirmation: {
			subject:  "Your voter registration form is ready",
			greeting: "Hello %s,",
			body:     "Thank you for registering to vote. Your National Mail Voter Registration Form is filled in and ready. You are not registered yet: print the form, sign it and mail it.",
			link:     "Download your form (PDF):",
			mail:     "Mail it to:",
			stop:     "Don't want reminders? Stop them here:",
			sign:     "Good luck on election day!",
		},
		emailReminder: {
			subject:  "Reminder: print, sign and mail your voter registration form",
			greeting: "Hello %s,",
			body:     "You started registering to vote, but your state only registers you once it receives your signed form. If you have not mailed it yet, please do it today.",
			link:     "Your form (PDF):",
			mail:     "Mail it to:",
			stop:     "Already mailed it? Stop these reminders:",
			sign:     "Thank you!",
		},
		emailGRegistration: {
			subject:  "Thanks for registering to vote with your state",
			greeting: "Hello %s,",
			body:     "You chose to finish your voter registration on your state's own web site. If you did not complete it there, you can do it at any time:",
			link:     "Your state's online registration:",
			mail:     "Questions? Your election office:",
			stop:     "",
			sign:     "Thank you for taking part!",
		},
	},
	"es": {
		emailConfirmation: {
			subject:  "Su solicitud de inscripción electoral está lista",
			greeting: "Hola %s:",
			body:     "Gracias por inscribirse para votar. Su Solicitud Nacional de Inscripción Electoral por Correo está llena y lista. Todavía no está inscrito: imprima la solicitud, fírmela y envíela por correo.",
			link:     "Descargue su solicitud (PDF):",
			mail:     "Envíela a:",
			stop:     "¿No desea recordatorios? Deténgalos aquí:",
			sign:     "¡Buena suerte el día de las elecciones!",
		},
		emailReminder: {
			subject:  "Recordatorio: imprima, firme y envíe su solicitud de inscripción electoral",
			greeting: "Hola %s:",
			body:     "Usted comenzó a inscribirse para votar, pero su estado solo lo inscribe cuando recibe su solicitud firmada. Si aún no la ha enviado, hágalo hoy.",
			link:     "Su solicitud (PDF):",
			mail:     "Envíela a:",
			stop:     "¿Ya la envió? Detenga estos recordatorios:",
			sign:     "¡Gracias!",
		},
		emailGRegistration: {
			subject:  "Gracias por inscribirse para votar con su estado",
			greeting: "Hola %s:",
			body:     "Usted eligió terminar su inscripción en el sitio web de su estado. Si no la completó allí, puede hacerlo en cualquier momento:",
			link:     "Inscripción en línea de su estado:",
			mail:     "¿Preguntas? Su oficina electoral:",
			stop:     "",
			sign:     "¡Gracias por participar!",
		},
	},
}

// StopRemindersPath is the public page that stops a registrant's reminders
// (the link of reminder e-mails when the partner gave no
// custom_stop_reminders_url).
func StopRemindersPath(uid string) string { return "/stop_reminders/" + uid }

// FullName is how e-mails greet a registrant: first, middle and last name
// and suffix, or, without a first name (gregistrations need only the last
// name), the title and the last name ("Sra. Pérez").
func FullName(r *storage.Registrant) string {
	parts := []string{r.FirstName, r.MiddleName, r.LastName, r.NameSuffix}
	if r.FirstName == "" {
		parts = []string{r.NameTitle, r.LastName, r.NameSuffix}
	}
	return strings.Join(strings.Fields(strings.Join(parts, " ")), " ")
}

// buildEmail renders one e-mail for r. pdfURL is the registrant's PDF;
// stopURL the stop-reminders link. Neither contains the ID number.
func buildEmail(kind emailKind, r *storage.Registrant, st *State, pdfURL, stopURL string) notify.Email {
	lang := r.Locale
	if _, ok := emailTexts[lang]; !ok {
		lang = "en"
	}
	t := emailTexts[lang][kind]
	name := FullName(r)
	link := pdfURL
	if kind == emailGRegistration && st != nil && st.OnlineRegistrationURL != nil {
		link = *st.OnlineRegistrationURL
	}
	var addr []string
	if st != nil {
		addr = st.SOSAddressLines
		if kind == emailGRegistration {
			addr = append(append([]string{}, addr...), st.SOSPhone, st.SOSURL)
		}
	}
	var text strings.Builder
	fmt.Fprintf(&text, t.greeting+"\n\n%s\n\n%s\n%s\n\n", name, t.body, t.link, link)
	if len(addr) > 0 {
		fmt.Fprintf(&text, "%s\n  %s\n\n", t.mail, strings.Join(addr, "\n  "))
	}
	if t.stop != "" && stopURL != "" {
		fmt.Fprintf(&text, "%s\n%s\n\n", t.stop, stopURL)
	}
	text.WriteString(t.sign + "\n")

	esc := template.HTMLEscapeString
	var html strings.Builder
	fmt.Fprintf(&html, "<p>"+esc(t.greeting)+"</p><p>%s</p><p>%s <a href=\"%s\">%s</a></p>",
		esc(name), esc(t.body), esc(t.link), esc(link), esc(link))
	if len(addr) > 0 {
		lines := make([]string, len(addr))
		for i, a := range addr {
			lines[i] = esc(a)
		}
		fmt.Fprintf(&html, "<p>%s<br>%s</p>", esc(t.mail), strings.Join(lines, "<br>"))
	}
	if t.stop != "" && stopURL != "" {
		fmt.Fprintf(&html, "<p><small>%s <a href=\"%s\">%s</a></small></p>", esc(t.stop), esc(stopURL), esc(stopURL))
	}
	fmt.Fprintf(&html, "<p>%s</p>", esc(t.sign))
	return notify.Email{To: []string{r.EmailAddress}, Subject: t.subject, Text: text.String(), HTML: html.String()}
}
