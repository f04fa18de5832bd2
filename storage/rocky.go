package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/turnoutdev/turnout/internal/fault"
)

// RockyPartner is a partner organisation of the Rocky surface.
type RockyPartner struct {
	ID                          int64           `gorm:"primaryKey"`
	OrgName                     string          `gorm:"column:org_name"`
	OrgURL                      string          `gorm:"column:org_url"`
	OrgPrivacyURL               string          `gorm:"column:org_privacy_url"`
	ContactName                 string          `gorm:"column:contact_name"`
	ContactEmail                string          `gorm:"column:contact_email"`
	ContactPhone                string          `gorm:"column:contact_phone"`
	ContactAddress              string          `gorm:"column:contact_address"`
	ContactCity                 string          `gorm:"column:contact_city"`
	ContactState                string          `gorm:"column:contact_state"`
	ContactZIP                  string          `gorm:"column:contact_zip"`
	LogoImageURL                string          `gorm:"column:logo_image_url"`
	ApplicationCSSURL           string          `gorm:"column:application_css_url"`
	RegistrationCSSURL          string          `gorm:"column:registration_css_url"`
	PartnerCSSURL               string          `gorm:"column:partner_css_url"`
	FinishIframeURL             string          `gorm:"column:finish_iframe_url"`
	ExternalTrackingSnippet     string          `gorm:"column:external_tracking_snippet"`
	RegistrationInstructionsURL string          `gorm:"column:registration_instructions_url"`
	SurveyQuestions             json.RawMessage `gorm:"column:survey_questions;type:jsonb"`
	Whitelabeled                bool            `gorm:"column:whitelabeled"`
	RTVEmailOptIn               bool            `gorm:"column:rtv_email_opt_in"`
	PartnerEmailOptIn           bool            `gorm:"column:partner_email_opt_in"`
	RTVSMSOptIn                 bool            `gorm:"column:rtv_sms_opt_in"`
	PartnerSMSOptIn             bool            `gorm:"column:partner_sms_opt_in"`
	AskForVolunteers            bool            `gorm:"column:ask_for_volunteers"`
	PartnerAskForVolunteers     bool            `gorm:"column:partner_ask_for_volunteers"`
	IsPrimary                   bool            `gorm:"column:is_primary"`
	CreatedAt                   time.Time
	UpdatedAt                   time.Time
}

// TableName is the partners table.
func (RockyPartner) TableName() string { return "rocky_partners" }

// Questions returns the partner's survey questions: number ("1", "2") →
// locale → text.
func (p *RockyPartner) Questions() map[string]map[string]string {
	out := map[string]map[string]string{}
	_ = json.Unmarshal(p.SurveyQuestions, &out)
	return out
}

// CreatedPartner is a new partner and its API key, whose secret is shown once.
type CreatedPartner struct {
	Partner *RockyPartner
	Key     *CreatedKey
}

// DefaultRockyBatchSize is the batch size of a partner's key unless
// configured otherwise: Rocky puts no limit on bulk calls, and partners
// send their abandoned registrations in batches of hundreds.
const DefaultRockyBatchSize = 1000

// CreateRockyPartner inserts a partner and issues its API key (scope rocky,
// bound to the partner, batch size batchSize or DefaultRockyBatchSize) in
// the shared key table. Both or neither exist afterwards.
func (s *Store) CreateRockyPartner(ctx context.Context, p *RockyPartner, batchSize int) (*CreatedPartner, error) {
	if batchSize <= 0 {
		batchSize = DefaultRockyBatchSize
	}
	if len(p.SurveyQuestions) == 0 {
		p.SurveyQuestions = json.RawMessage("{}")
	}
	if err := s.orm.WithContext(ctx).Create(p).Error; err != nil {
		return nil, fmt.Errorf("create partner: %w", err)
	}
	id := p.ID
	k, err := s.CreateKey(ctx, NewKey{
		Name: fmt.Sprintf("rocky partner %d: %s", id, truncate(p.OrgName, 60)), Scopes: []string{ScopeRocky},
		RockyPartnerID: &id, MaxBatchSize: batchSize,
	})
	if err != nil {
		// Compensate: a partner nobody can authenticate as is useless.
		_, _ = s.pool.Exec(context.WithoutCancel(ctx), `DELETE FROM rocky_partners WHERE id = $1`, id)
		return nil, err
	}
	return &CreatedPartner{Partner: p, Key: k}, nil
}

func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n])
	}
	return s
}

// RockyPartner returns a partner by id.
func (s *Store) RockyPartner(ctx context.Context, id int64) (*RockyPartner, error) {
	var p RockyPartner
	if err := s.orm.WithContext(ctx).Take(&p, id).Error; err != nil {
		return nil, notFound(err, "partner")
	}
	return &p, nil
}

// Registrant is one row of rocky_registrants: a registration (validated,
// with a PDF), a gregistration (finished on a state site) or a bulk row
// (not validated). IDNumberEnc is ciphertext; storage never sees the ID
// number in clear.
type Registrant struct {
	ID                             int64           `db:"id"`
	UID                            string          `db:"uid"`
	PartnerID                      int64           `db:"partner_id"`
	Kind                           string          `db:"kind"`
	Status                         string          `db:"status"`
	Locale                         string          `db:"locale"`
	SendConfirmationReminderEmails bool            `db:"send_confirmation_reminder_emails"`
	CollectEmailAddress            string          `db:"collect_email_address"`
	SourceTrackingID               string          `db:"source_tracking_id"`
	PartnerTrackingID              string          `db:"partner_tracking_id"`
	ShortForm                      bool            `db:"short_form"`
	StateOVRData                   json.RawMessage `db:"state_ovr_data"`
	ClientCreatedAt                *time.Time      `db:"client_created_at"`
	ClientUpdatedAt                *time.Time      `db:"client_updated_at"`
	DateOfBirth                    *time.Time      `db:"date_of_birth"`
	IDNumberEnc                    []byte          `db:"id_number_enc"`
	EmailAddress                   string          `db:"email_address"`
	FirstRegistration              bool            `db:"first_registration"`
	HomeZIPCode                    string          `db:"home_zip_code"`
	USCitizen                      bool            `db:"us_citizen"`
	HasStateLicense                bool            `db:"has_state_license"`
	IsEighteenOrOlder              bool            `db:"is_eighteen_or_older"`
	NameTitle                      string          `db:"name_title"`
	FirstName                      string          `db:"first_name"`
	MiddleName                     string          `db:"middle_name"`
	LastName                       string          `db:"last_name"`
	NameSuffix                     string          `db:"name_suffix"`
	HomeAddress                    string          `db:"home_address"`
	HomeUnit                       string          `db:"home_unit"`
	HomeCity                       string          `db:"home_city"`
	HomeStateID                    string          `db:"home_state_id"`
	HasMailingAddress              bool            `db:"has_mailing_address"`
	MailingAddress                 string          `db:"mailing_address"`
	MailingUnit                    string          `db:"mailing_unit"`
	MailingCity                    string          `db:"mailing_city"`
	MailingStateID                 string          `db:"mailing_state_id"`
	MailingZIPCode                 string          `db:"mailing_zip_code"`
	Race                           string          `db:"race"`
	Party                          string          `db:"party"`
	Phone                          string          `db:"phone"`
	PhoneType                      string          `db:"phone_type"`
	ChangeOfName                   bool            `db:"change_of_name"`
	PrevNameTitle                  string          `db:"prev_name_title"`
	PrevFirstName                  string          `db:"prev_first_name"`
	PrevMiddleName                 string          `db:"prev_middle_name"`
	PrevLastName                   string          `db:"prev_last_name"`
	PrevNameSuffix                 string          `db:"prev_name_suffix"`
	ChangeOfAddress                bool            `db:"change_of_address"`
	PrevAddress                    string          `db:"prev_address"`
	PrevUnit                       string          `db:"prev_unit"`
	PrevCity                       string          `db:"prev_city"`
	PrevStateID                    string          `db:"prev_state_id"`
	PrevZIPCode                    string          `db:"prev_zip_code"`
	OptInEmail                     bool            `db:"opt_in_email"`
	OptInSMS                       bool            `db:"opt_in_sms"`
	OptInVolunteer                 bool            `db:"opt_in_volunteer"`
	PartnerOptInEmail              bool            `db:"partner_opt_in_email"`
	PartnerOptInSMS                bool            `db:"partner_opt_in_sms"`
	PartnerOptInVolunteer          bool            `db:"partner_opt_in_volunteer"`
	SurveyQuestion1                string          `db:"survey_question_1"`
	SurveyAnswer1                  string          `db:"survey_answer_1"`
	SurveyQuestion2                string          `db:"survey_question_2"`
	SurveyAnswer2                  string          `db:"survey_answer_2"`
	CustomStopRemindersURL         string          `db:"custom_stop_reminders_url"`
	IneligibleNonParticipating     bool            `db:"ineligible_non_participating_state"`
	IneligibleAge                  bool            `db:"ineligible_age"`
	IneligibleNonCitizen           bool            `db:"ineligible_non_citizen"`
	Under18OK                      bool            `db:"under_18_ok"`
	RemindWhen18                   bool            `db:"remind_when_18"`
	Age                            *int32          `db:"age"`
	JavascriptDisabled             bool            `db:"javascript_disabled"`
	UsingStateOnlineRegistration   bool            `db:"using_state_online_registration"`
	FinishWithState                bool            `db:"finish_with_state"`
	PDFStatus                      string          `db:"pdf_status"`
	PDFReadyAt                     *time.Time      `db:"pdf_ready_at"`
	RemindersLeft                  int32           `db:"reminders_left"`
	ConfirmationSentAt             *time.Time      `db:"confirmation_sent_at"`
	CreatedAt                      time.Time       `db:"created_at"`
	UpdatedAt                      time.Time       `db:"updated_at"`
}

// PDF statuses of a registrant.
const (
	PDFNone    = "none"
	PDFPending = "pending"
	PDFReady   = "ready"
)

// NewRegistrantUID returns 160 random bits as hex: the registrant's public
// id, unguessable so that its PDF URL can be public.
func NewRegistrantUID() string {
	b := make([]byte, 20)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// registrantColumns are the columns an insert writes (all but the generated
// id and updated_at, which the database sets), in struct order.
var registrantColumns = sync.OnceValue(func() []string {
	var cols []string
	t := reflect.TypeFor[Registrant]()
	for i := 0; i < t.NumField(); i++ {
		switch c := t.Field(i).Tag.Get("db"); c {
		case "id", "updated_at":
		default:
			cols = append(cols, c)
		}
	}
	return cols
})

// startedAt is a new registrant's created_at: the time the partner says
// the registration started (created_at in the request, as Rocky records
// it), or now. Reports and their since/before filters read this column.
func startedAt(r *Registrant) time.Time {
	if r.ClientCreatedAt != nil {
		return *r.ClientCreatedAt
	}
	return time.Now()
}

func registrantValues(r *Registrant) []any {
	v := reflect.ValueOf(r).Elem()
	t := v.Type()
	out := make([]any, 0, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		switch t.Field(i).Tag.Get("db") {
		case "id", "updated_at":
			continue
		case "created_at":
			out = append(out, startedAt(r))
			continue
		}
		f := v.Field(i).Interface()
		if raw, ok := f.(json.RawMessage); ok && len(raw) == 0 {
			f = nil // jsonb NULL, not an empty (invalid) document
		}
		out = append(out, f)
	}
	return out
}

// InsertRegistrant inserts r (in a transaction, so the registrant and its
// PDF job commit together) and sets r.ID.
func (ex *executor) InsertRegistrant(ctx context.Context, r *Registrant) error {
	cols := registrantColumns()
	ph := make([]string, len(cols))
	for i := range cols {
		ph[i] = fmt.Sprintf("$%d", i+1)
	}
	sql := `INSERT INTO rocky_registrants (` + strings.Join(cols, ", ") + `) VALUES (` + strings.Join(ph, ", ") +
		`) RETURNING id, created_at, updated_at`
	if err := ex.q.QueryRow(ctx, sql, registrantValues(r)...).Scan(&r.ID, &r.CreatedAt, &r.UpdatedAt); err != nil {
		return fmt.Errorf("insert registrant: %w", err)
	}
	return nil
}

// CopyRegistrants writes rows with COPY in one statement (bulk endpoints);
// either all rows are written or none.
func (ex *executor) CopyRegistrants(ctx context.Context, rows []*Registrant) (int64, error) {
	n, err := ex.q.CopyFrom(ctx, pgx.Identifier{"rocky_registrants"}, registrantColumns(),
		pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) { return registrantValues(rows[i]), nil }))
	if err != nil {
		return 0, fmt.Errorf("copy registrants: %w", err)
	}
	return n, nil
}

var errNoRegistrant = fault.New(fault.NotFound, "Registrant not found")

func (ex *executor) registrantWhere(ctx context.Context, where string, arg any) (*Registrant, error) {
	rows, _ := ex.q.Query(ctx, `SELECT * FROM rocky_registrants WHERE `+where, arg)
	r, err := pgx.CollectExactlyOneRow(rows, pgx.RowToAddrOfStructByName[Registrant])
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errNoRegistrant
	}
	if err != nil {
		return nil, fmt.Errorf("load registrant: %w", err)
	}
	return r, nil
}

// Registrant returns a registrant by id.
func (ex *executor) Registrant(ctx context.Context, id int64) (*Registrant, error) {
	return ex.registrantWhere(ctx, "id = $1", id)
}

// RegistrantByUID returns a registrant by its public uid.
func (ex *executor) RegistrantByUID(ctx context.Context, uid string) (*Registrant, error) {
	return ex.registrantWhere(ctx, "uid = $1", uid)
}

// RegistrantPDFStatus returns a registrant's PDF status by uid, reading
// one small column (pdf_ready is polled).
func (ex *executor) RegistrantPDFStatus(ctx context.Context, uid string) (string, error) {
	var st string
	err := ex.q.QueryRow(ctx, `SELECT pdf_status FROM rocky_registrants WHERE uid = $1`, uid).Scan(&st)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", errNoRegistrant
	}
	return st, err
}

// MarkPDFReady records that the PDF is stored. It returns true only for
// the call that made the change, so work that must follow the PDF once
// (the confirmation e-mail) is started exactly once, in the same
// transaction.
func (ex *executor) MarkPDFReady(ctx context.Context, id int64) (bool, error) {
	tag, err := ex.q.Exec(ctx, `UPDATE rocky_registrants SET pdf_status = 'ready', pdf_ready_at = now(), updated_at = now()
		WHERE id = $1 AND pdf_status = 'pending'`, id)
	if err != nil {
		return false, fmt.Errorf("mark pdf ready: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// StopReminders sets reminders_left to 0 for the partner's registrant uid.
// A registrant of another partner is reported as not found.
func (ex *executor) StopReminders(ctx context.Context, partnerID int64, uid string) (*Registrant, error) {
	if _, err := ex.q.Exec(ctx, `UPDATE rocky_registrants SET reminders_left = 0, updated_at = now()
		WHERE uid = $1 AND partner_id = $2`, uid, partnerID); err != nil {
		return nil, fmt.Errorf("stop reminders: %w", err)
	}
	r, err := ex.RegistrantByUID(ctx, uid)
	if err != nil {
		return nil, err
	}
	if r.PartnerID != partnerID {
		return nil, errNoRegistrant
	}
	return r, nil
}

// TakeReminder consumes one reminder if the registrant still has exactly
// left reminders to go; false means reminders were stopped or this
// reminder was already taken (a duplicate delivery).
func (ex *executor) TakeReminder(ctx context.Context, id int64, left int32) (bool, error) {
	tag, err := ex.q.Exec(ctx, `UPDATE rocky_registrants SET reminders_left = reminders_left - 1, updated_at = now()
		WHERE id = $1 AND reminders_left = $2 AND reminders_left > 0`, id, left)
	if err != nil {
		return false, fmt.Errorf("take reminder: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// MarkConfirmationSent records the confirmation e-mail; true for the first
// call only.
func (ex *executor) MarkConfirmationSent(ctx context.Context, id int64) (bool, error) {
	tag, err := ex.q.Exec(ctx, `UPDATE rocky_registrants SET confirmation_sent_at = now(), updated_at = now()
		WHERE id = $1 AND confirmation_sent_at IS NULL`, id)
	if err != nil {
		return false, fmt.Errorf("mark confirmation sent: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// EncryptedIDNumber is one registrant's encrypted ID number.
type EncryptedIDNumber struct {
	ID  int64  `db:"id"`
	UID string `db:"uid"`
	Enc []byte `db:"id_number_enc"`
}

// EncryptedIDNumbers returns up to limit encrypted ID numbers with id >
// after, in id order (for key rotation).
func (ex *executor) EncryptedIDNumbers(ctx context.Context, after int64, limit int) ([]EncryptedIDNumber, error) {
	rows, _ := ex.q.Query(ctx, `SELECT id, uid, id_number_enc FROM rocky_registrants
		WHERE id > $1 AND id_number_enc IS NOT NULL ORDER BY id LIMIT $2`, after, limit)
	return pgx.CollectRows(rows, pgx.RowToStructByName[EncryptedIDNumber])
}

// ReplaceIDNumber swaps a ciphertext for a new one, only if it is still
// old (a concurrent rotation wins cleanly).
func (ex *executor) ReplaceIDNumber(ctx context.Context, id int64, old, replacement []byte) error {
	_, err := ex.q.Exec(ctx, `UPDATE rocky_registrants SET id_number_enc = $3 WHERE id = $1 AND id_number_enc = $2`,
		id, old, replacement)
	return err
}
