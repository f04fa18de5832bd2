package registration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"time"

	"github.com/turnoutdev/turnout/internal/crypt"
	"github.com/turnoutdev/turnout/internal/fault"
	"github.com/turnoutdev/turnout/jobs"
	"github.com/turnoutdev/turnout/storage"
)

// Job kinds of this package.
const (
	KindPDF           = "rocky.pdf"
	KindConfirmation  = "rocky.confirmation"
	KindReminder      = "rocky.reminder"
	KindGRegistration = "rocky.gregistration_email"
)

// DefaultReminders is the reminder schedule: three reminders, each three
// days after the one before (the first three days after the confirmation).
var DefaultReminders = []time.Duration{72 * time.Hour, 72 * time.Hour, 72 * time.Hour}

// ErrNotConfigured is returned by every operation that stores an ID number
// when no encryption key is configured: registrations are refused rather
// than stored in clear.
var ErrNotConfigured = fault.New(fault.Unavailable,
	"voter registration is not configured on this server: it needs TURNOUT_ENCRYPTION_KEY to protect ID numbers")

// PDFKey is the blob key of a registrant's PDF.
func PDFKey(uid string) string { return "rocky/pdf/" + uid + ".pdf" }

// PDFPath is the public path of a registrant's PDF (Rocky v4: "/pdf/<large
// number>.pdf"; the uid is 160 random bits).
func PDFPath(uid string) string { return "/pdf/" + uid + ".pdf" }

// Service stores registrations and starts their jobs.
type Service struct {
	Store     *storage.Store
	Enqueuer  *jobs.Enqueuer
	Validator *Validator
	Ring      *crypt.Ring
	// Reminders is the schedule of reminder e-mails after the confirmation.
	Reminders []time.Duration
}

// jobParams is the whole content of this package's job rows: the
// registrant's id (never its data) and, for reminders, how many are left.
type jobParams struct {
	RegistrantID int64 `json:"registrant_id"`
	Left         int32 `json:"left,omitempty"`
	// Due (Unix seconds) is when a reminder is meant to go out.
	Due int64 `json:"due,omitempty"`
}

// Register validates a registration, stores it (ID number encrypted) and
// queues its PDF, all in one transaction.
func (s *Service) Register(ctx context.Context, in Input) (*storage.Registrant, bool, error) {
	if !s.Ring.Enabled() {
		return nil, false, ErrNotConfigured
	}
	v, err := s.Validator.Validate(in, ModeRegistration)
	if err != nil {
		return nil, false, err
	}
	r := v.Registrant
	if err := s.checkPartner(ctx, r); err != nil {
		return nil, false, err
	}
	r.UID = storage.NewRegistrantUID()
	if r.IDNumberEnc, err = s.Ring.Encrypt([]byte(v.IDNumber), []byte(r.UID)); err != nil {
		return nil, false, err
	}
	if r.SendConfirmationReminderEmails && r.EmailAddress != "" {
		r.RemindersLeft = int32(len(s.Reminders))
	}
	var job *storage.Job
	err = s.Store.WithTx(ctx, func(tx *storage.Tx) error {
		if err := tx.InsertRegistrant(ctx, r); err != nil {
			return err
		}
		job, err = tx.InsertJob(ctx, storage.NewJob{Kind: KindPDF, Queue: jobs.QueuePDF,
			Params: jobParams{RegistrantID: r.ID}})
		return err
	})
	if err != nil {
		return nil, false, err
	}
	s.Enqueuer.EnqueueOrLog(ctx, job)
	return r, v.Async, nil
}

func (s *Service) checkPartner(ctx context.Context, r *storage.Registrant) error {
	if _, err := s.Store.RockyPartner(ctx, r.PartnerID); err != nil {
		if fault.Is(err, fault.NotFound) {
			return fault.Validation(fault.FieldError{Field: "partner_id", Code: fault.CodeInvalidValue, Message: msgPartner.in(r.Locale)})
		}
		return err
	}
	return nil
}

// GRegister stores a gregistration (the registrant finished on the state's
// site): no PDF, and when asked, the e-mail of that use case.
func (s *Service) GRegister(ctx context.Context, in Input) (*storage.Registrant, error) {
	if !s.Ring.Enabled() {
		return nil, ErrNotConfigured
	}
	v, err := s.Validator.Validate(in, ModeGRegistration)
	if err != nil {
		return nil, err
	}
	r := v.Registrant
	if err := s.checkPartner(ctx, r); err != nil {
		return nil, err
	}
	r.UID = storage.NewRegistrantUID()
	if v.IDNumber != "" {
		if r.IDNumberEnc, err = s.Ring.Encrypt([]byte(v.IDNumber), []byte(r.UID)); err != nil {
			return nil, err
		}
	}
	var job *storage.Job
	err = s.Store.WithTx(ctx, func(tx *storage.Tx) error {
		if err := tx.InsertRegistrant(ctx, r); err != nil {
			return err
		}
		if r.SendConfirmationReminderEmails && r.EmailAddress != "" {
			job, err = tx.InsertJob(ctx, storage.NewJob{Kind: KindGRegistration, Queue: jobs.QueueNotify,
				Params: jobParams{RegistrantID: r.ID}})
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if job != nil {
		s.Enqueuer.EnqueueOrLog(ctx, job)
	}
	return r, nil
}

// BulkError is the per-record error of the bulk endpoints (Rocky v4: type
// ValidationError, SyntaxError or UnsupportedLanguageError).
type BulkError struct {
	Type      string `json:"type"`
	FieldName string `json:"field_name,omitempty"`
	Message   string `json:"message"`
}

// BulkResult is the outcome of a bulk call: Errors has one entry per
// record (nil for a good one) when any record was bad, and then nothing
// was written.
type BulkResult struct {
	Written int64
	Errors  []*BulkError
}

// Bulk stores records without the registration rules (Rocky v4: bulk rows
// are statistics of abandoned registrations; no PDF, no e-mail). A record
// is refused only when it cannot be stored faithfully: an unknown field, an
// unsupported language, or a value of the wrong type. Either every record
// is written (one COPY) or none.
func (s *Service) Bulk(ctx context.Context, partnerID int64, records []Input, kind string) (*BulkResult, error) {
	if !s.Ring.Enabled() {
		return nil, ErrNotConfigured
	}
	rows := make([]*storage.Registrant, len(records))
	errs := make([]*BulkError, len(records))
	bad := false
	for i, in := range records {
		r, be := s.bulkRow(in, partnerID, kind)
		if be != nil {
			errs[i], bad = be, true
			continue
		}
		rows[i] = r
	}
	if bad {
		return &BulkResult{Errors: errs}, nil
	}
	n, err := s.Store.CopyRegistrants(ctx, rows)
	if err != nil {
		return nil, err
	}
	return &BulkResult{Written: n}, nil
}

func (s *Service) bulkRow(in Input, partnerID int64, kind string) (*storage.Registrant, *BulkError) {
	if f := Unknown(in, true); f != "" {
		return nil, &BulkError{Type: "SyntaxError", FieldName: f, Message: InvalidParameterType}
	}
	c := &checker{in: in, lang: "en", failed: map[string]bool{}}
	lang := NormalizeLanguage(c.str("lang", false))
	if lang != "" && !SupportedLanguage(lang) {
		return nil, &BulkError{Type: "UnsupportedLanguageError", Message: UnsupportedLanguage}
	}
	if lang != "" {
		c.lang = lang
	}
	r := &storage.Registrant{Kind: kind, Locale: lang, PartnerID: partnerID, PDFStatus: storage.PDFNone,
		UID: storage.NewRegistrantUID()}
	readBulkTracking(c, r)
	if be := s.sealIDNumber(c, r); be != nil {
		return nil, be
	}
	readBulkAsSent(c, r)
	readBulkAge(c, r)
	c.str("callback", false)
	c.boolean("async", false)
	if len(c.errs) > 0 {
		first := firstBulkError(c)
		return nil, &BulkError{Type: "ValidationError", FieldName: first.Field, Message: first.Message}
	}
	return r, nil
}

// readBulkTracking reads a bulk row's status, the partner's bookkeeping,
// its times and the date of birth.
func readBulkTracking(c *checker, r *storage.Registrant) {
	r.Status = c.str("status", false)
	r.SendConfirmationReminderEmails = c.boolean("send_confirmation_reminder_emails", false)
	r.CollectEmailAddress = c.str("collect_email_address", false)
	r.SourceTrackingID = c.str("source_tracking_id", false)
	r.PartnerTrackingID = c.str("partner_tracking_id", false)
	r.ShortForm = c.boolean("short_form", false)
	r.StateOVRData = c.stateOVRData()
	// bulk_gregistrations carry "UTC datetime format"; registrations/bulk the
	// registration format. Both are accepted in both.
	r.ClientCreatedAt = c.clientTime("created_at")
	r.ClientUpdatedAt = c.clientTime("updated_at")
	if d := c.str("date_of_birth", false); d != "" {
		t, ok := ParseDate(d)
		if !ok {
			c.fail("date_of_birth", msgDate)
		}
		r.DateOfBirth = &t
	}
}

// sealIDNumber encrypts a bulk row's ID number, bound to its UID; the
// number is never stored in clear.
func (s *Service) sealIDNumber(c *checker, r *storage.Registrant) *BulkError {
	id := c.str("id_number", false)
	if id == "" {
		return nil
	}
	enc, err := s.Ring.Encrypt([]byte(id), []byte(r.UID))
	if err != nil {
		return &BulkError{Type: "ValidationError", FieldName: "id_number", Message: err.Error()}
	}
	r.IDNumberEnc = enc
	return nil
}

// readBulkAsSent reads the text and yes/no fields of a bulk row, which
// records what happened elsewhere and is kept as sent.
func readBulkAsSent(c *checker, r *storage.Registrant) {
	strs := map[string]*string{
		"email_address": &r.EmailAddress, "home_zip_code": &r.HomeZIPCode, "name_title": &r.NameTitle,
		"first_name": &r.FirstName, "middle_name": &r.MiddleName, "last_name": &r.LastName,
		"name_suffix": &r.NameSuffix, "home_address": &r.HomeAddress, "home_unit": &r.HomeUnit,
		"home_city": &r.HomeCity, "home_state_id": &r.HomeStateID, "mailing_address": &r.MailingAddress,
		"mailing_unit": &r.MailingUnit, "mailing_city": &r.MailingCity, "mailing_state_id": &r.MailingStateID,
		"mailing_zip_code": &r.MailingZIPCode, "race": &r.Race, "party": &r.Party, "phone": &r.Phone,
		"phone_type": &r.PhoneType, "prev_name_title": &r.PrevNameTitle, "prev_first_name": &r.PrevFirstName,
		"prev_middle_name": &r.PrevMiddleName, "prev_last_name": &r.PrevLastName,
		"prev_name_suffix": &r.PrevNameSuffix, "prev_address": &r.PrevAddress, "prev_unit": &r.PrevUnit,
		"prev_city": &r.PrevCity, "prev_state_id": &r.PrevStateID, "prev_zip_code": &r.PrevZIPCode,
		"survey_question_1": &r.SurveyQuestion1, "survey_answer_1": &r.SurveyAnswer1,
		"survey_question_2": &r.SurveyQuestion2, "survey_answer_2": &r.SurveyAnswer2,
		"custom_stop_reminders_url": &r.CustomStopRemindersURL,
	}
	for f, p := range strs {
		*p = c.str(f, false)
	}
	bools := map[string]*bool{
		"first_registration": &r.FirstRegistration, "us_citizen": &r.USCitizen,
		"has_state_license": &r.HasStateLicense, "is_eighteen_or_older": &r.IsEighteenOrOlder,
		"has_mailing_address": &r.HasMailingAddress, "change_of_name": &r.ChangeOfName,
		"change_of_address": &r.ChangeOfAddress, "opt_in_email": &r.OptInEmail, "opt_in_sms": &r.OptInSMS,
		"opt_in_volunteer": &r.OptInVolunteer, "partner_opt_in_email": &r.PartnerOptInEmail,
		"partner_opt_in_sms": &r.PartnerOptInSMS, "partner_opt_in_volunteer": &r.PartnerOptInVolunteer,
		"ineligible_non_participating_state": &r.IneligibleNonParticipating,
		"ineligible_age":                     &r.IneligibleAge, "ineligible_non_citizen": &r.IneligibleNonCitizen,
		"under_18_ok": &r.Under18OK, "remind_when_18": &r.RemindWhen18,
		"javascript_disabled":             &r.JavascriptDisabled,
		"using_state_online_registration": &r.UsingStateOnlineRegistration,
		"finish_with_state":               &r.FinishWithState,
	}
	for f, p := range bools {
		*p = c.boolean(f, false)
	}
}

// readBulkAge reads the age a bulk row states, a whole number.
func readBulkAge(c *checker, r *storage.Registrant) {
	if a := c.str("age", false); a != "" {
		n, err := strconv.ParseInt(a, 10, 32)
		if err != nil || n < 0 {
			c.fail("age", msgNumber)
		}
		age := int32(n)
		r.Age = &age
	}
}

// firstBulkError is the error a bulk row reports: of the fields that
// failed, the first in the order of Rocky's field list (the fields were
// read in map order, which is random).
func firstBulkError(c *checker) fault.FieldError {
	for _, f := range append(append([]string{}, registrationFields...), bulkFields...) {
		if !c.failed[f] {
			continue
		}
		for _, e := range c.errs {
			if e.Field == f {
				return e
			}
		}
	}
	return c.errs[0]
}

// PDFReady reports whether uid's PDF is stored.
func (s *Service) PDFReady(ctx context.Context, uid string) (bool, error) {
	st, err := s.Store.RegistrantPDFStatus(ctx, uid)
	if err != nil {
		return false, err
	}
	return st == storage.PDFReady, nil
}

// WaitPDF waits until uid's PDF is ready or ctx ends (a fault.Timeout).
func (s *Service) WaitPDF(ctx context.Context, uid string) error {
	t := time.NewTicker(25 * time.Millisecond)
	defer t.Stop()
	for {
		ok, err := s.PDFReady(ctx, uid)
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fault.Wrap(fault.Timeout, ctx.Err(), "the PDF was not ready in time; poll pdf_ready with the uid")
		case <-t.C:
		}
	}
}

func decodeParams(job *storage.Job) (jobParams, error) {
	var p jobParams
	if err := json.Unmarshal(job.Params, &p); err != nil || p.RegistrantID <= 0 {
		return p, fault.New(fault.Invalid, "job %d: bad params", job.ID)
	}
	return p, nil
}

// Options configure NewService.
type Options struct {
	// EncryptionKeys protect ID numbers (internal/crypt); without one,
	// registrations are refused with ErrNotConfigured.
	EncryptionKeys [][]byte
	// BlockedEmails are e-mail block list entries; nil means
	// DefaultBlockedDomains.
	BlockedEmails []string
	// Reminders is the reminder schedule; nil means DefaultReminders.
	Reminders []time.Duration
	// PreRegistration admits registrants under 18 as their state's
	// pre-registration rule allows (Validator.PreRegistration).
	PreRegistration bool
}

// NewService returns a Service (and loads the reference data once).
func NewService(opts Options, store *storage.Store, enq *jobs.Enqueuer) (*Service, error) {
	ref, err := LoadReference()
	if err != nil {
		return nil, err
	}
	ring, err := crypt.NewRing(opts.EncryptionKeys)
	if err != nil {
		return nil, err
	}
	blocked := opts.BlockedEmails
	if blocked == nil {
		blocked = DefaultBlockedDomains
	}
	reminders := opts.Reminders
	if reminders == nil {
		reminders = DefaultReminders
	}
	return &Service{
		Store: store, Enqueuer: enq, Ring: ring, Reminders: reminders,
		Validator: &Validator{Ref: ref, Blocklist: NewBlocklist(blocked), PreRegistration: opts.PreRegistration},
	}, nil
}

// NewJobs returns the job handlers sharing s's reference data and keys.
func (s *Service) NewJobs(blobs storage.Blobs, mail Sender, publicURL *url.URL, log *slog.Logger) *Jobs {
	return &Jobs{
		Store: s.Store, Blobs: blobs, Ring: s.Ring, Ref: s.Validator.Ref, Renderer: NewPDFRenderer(),
		Enqueuer: s.Enqueuer, Mail: mail, PublicURL: publicURL, Reminders: s.Reminders, Log: log,
	}
}

// Reencrypt re-encrypts every ID number not under the first key, to finish
// a key rotation (TURNOUT_ENCRYPTION_KEY="new,old" → run this → drop old).
// It returns how many it rewrote; a ciphertext no key opens is an error.
func (s *Service) Reencrypt(ctx context.Context) (int, error) {
	if !s.Ring.Enabled() {
		return 0, ErrNotConfigured
	}
	n := 0
	var after int64
	for {
		batch, err := s.Store.EncryptedIDNumbers(ctx, after, 500)
		if err != nil {
			return n, err
		}
		if len(batch) == 0 {
			return n, nil
		}
		for _, e := range batch {
			after = e.ID
			if !s.Ring.Stale(e.Enc) {
				continue
			}
			pt, err := s.Ring.Decrypt(e.Enc, []byte(e.UID))
			if err != nil {
				return n, fmt.Errorf("registrant %d: %w", e.ID, err)
			}
			enc, err := s.Ring.Encrypt(pt, []byte(e.UID))
			if err != nil {
				return n, err
			}
			if err := s.Store.ReplaceIDNumber(ctx, e.ID, e.Enc, enc); err != nil {
				return n, err
			}
			n++
		}
	}
}
