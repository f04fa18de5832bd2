package storage

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/turnoutdev/turnout/internal/fault"
)

// Scopes are the services a key may call.
const (
	ScopeVAN     = "van"
	ScopeRocky   = "rocky"
	ScopeTargets = "targets"
	ScopeMetrics = "metrics"
	ScopeAdmin   = "admin"
)

// AllScopes lists every scope, in the order listings show them.
var AllScopes = []string{ScopeVAN, ScopeRocky, ScopeTargets, ScopeMetrics, ScopeAdmin}

// APIKey is one provisioned credential. Every API surface resolves its own
// credential form to a row of this table.
type APIKey struct {
	ID             int64    `gorm:"primaryKey" json:"id"`
	Name           string   `json:"name"`
	SecretHash     []byte   `json:"-"`
	SecretHint     string   `json:"secretHint"`
	Scopes         []string `gorm:"type:text[];serializer:textarray" json:"scopes"`
	RateLimit      int      `json:"rateLimit"`
	MaxBatchSize   int      `json:"maxBatchSize"`
	MayAutoApprove bool     `json:"mayAutoApprove"`
	VANApp         *string  `gorm:"column:van_app" json:"vanApp,omitempty"`
	VANDBMode      *int16   `gorm:"column:van_db_mode" json:"vanDbMode,omitempty"`
	RockyPartnerID *int64   `json:"rockyPartnerId,omitempty"`
	// FileLoadConcurrency caps the key's file loads running at once; nil
	// takes the deployment's default.
	FileLoadConcurrency *int       `gorm:"column:fileload_concurrency" json:"fileLoadConcurrency,omitempty"`
	WebhookSecret       string     `json:"-"`
	CreatedAt           time.Time  `json:"createdAt"`
	RevokedAt           *time.Time `json:"revokedAt,omitempty"`
}

// HasScope reports whether the key may call service.
func (k *APIKey) HasScope(service string) bool { return slices.Contains(k.Scopes, service) }

// NewKey describes a key to create.
type NewKey struct {
	Name           string
	Scopes         []string
	RateLimit      int
	MaxBatchSize   int
	MayAutoApprove bool
	VANApp         string
	VANDBMode      *int16
	RockyPartnerID *int64
	// FileLoadConcurrency is the key's own limit of file loads at once (0:
	// the deployment's default).
	FileLoadConcurrency int
}

// Validate checks the request and fills defaults.
func (n *NewKey) Validate() error {
	var fe []fault.FieldError
	if strings.TrimSpace(n.Name) == "" {
		fe = append(fe, fault.FieldError{Field: "name", Code: fault.CodeRequired, Message: "is required"})
	}
	if len(n.Scopes) == 0 {
		fe = append(fe, fault.FieldError{Field: "scopes", Code: fault.CodeRequired, Message: "at least one of " + strings.Join(AllScopes, ", ") + " is required"})
	}
	for _, s := range n.Scopes {
		if !slices.Contains(AllScopes, s) {
			fe = append(fe, fault.FieldError{Field: "scopes", Code: fault.CodeInvalidValue, Message: fmt.Sprintf("%q is not a service; want one of %s", s, strings.Join(AllScopes, ", "))})
		}
	}
	if n.RateLimit == 0 {
		n.RateLimit = 300
	}
	if n.MaxBatchSize == 0 {
		n.MaxBatchSize = 20
		if n.RockyPartnerID != nil {
			n.MaxBatchSize = DefaultRockyBatchSize
		}
	}
	if n.RateLimit < 0 {
		fe = append(fe, fault.FieldError{Field: "rate-limit", Code: fault.CodeOutOfRange, Message: "must be positive"})
	}
	if n.FileLoadConcurrency < 0 {
		fe = append(fe, fault.FieldError{Field: "fileload-concurrency", Code: fault.CodeOutOfRange, Message: "must be positive (0: the deployment's default)"})
	}
	if n.MaxBatchSize < 0 {
		fe = append(fe, fault.FieldError{Field: "batch-size", Code: fault.CodeOutOfRange, Message: "must be positive"})
	}
	if (n.VANApp == "") != (n.VANDBMode == nil) {
		fe = append(fe, fault.FieldError{Field: "van-app", Code: fault.CodeRequired, Message: "a VAN key needs both an application name and a database mode"})
	}
	if strings.ContainsAny(n.VANApp, ":") {
		fe = append(fe, fault.FieldError{Field: "van-app", Code: fault.CodeInvalidValue, Message: "must not contain ':' (it is the HTTP Basic user name)"})
	}
	if n.VANDBMode != nil && *n.VANDBMode != 0 && *n.VANDBMode != 1 {
		fe = append(fe, fault.FieldError{Field: "db-mode", Code: fault.CodeInvalidValue, Message: "must be 0 (My Voters) or 1 (My Campaign)"})
	}
	if len(fe) > 0 {
		return fault.Validation(fe...)
	}
	return nil
}

// CreatedKey is a new key with its secrets, which are shown only once.
type CreatedKey struct {
	*APIKey
	Secret string
}

const secretPrefix = "trn_"

// CreateKey inserts a key and returns it with its secret. The secret itself is
// never stored.
func (s *Store) CreateKey(ctx context.Context, n NewKey) (*CreatedKey, error) {
	if err := n.Validate(); err != nil {
		return nil, err
	}
	secret := secretPrefix + randomToken(32)
	k := &APIKey{
		Name:           n.Name,
		SecretHash:     HashSecret(secret),
		SecretHint:     secret[len(secret)-4:],
		Scopes:         n.Scopes,
		RateLimit:      n.RateLimit,
		MaxBatchSize:   n.MaxBatchSize,
		MayAutoApprove: n.MayAutoApprove,
		VANDBMode:      n.VANDBMode,
		RockyPartnerID: n.RockyPartnerID,
		WebhookSecret:  newWebhookSecret(),
	}
	if n.VANApp != "" {
		k.VANApp = &n.VANApp
	}
	if n.FileLoadConcurrency > 0 {
		k.FileLoadConcurrency = &n.FileLoadConcurrency
	}
	if err := s.orm.WithContext(ctx).Create(k).Error; err != nil {
		return nil, fmt.Errorf("create key: %w", err)
	}
	return &CreatedKey{APIKey: k, Secret: secret}, nil
}

// HashSecret is the at-rest form of a secret.
func HashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// KeyBySecret returns the live key whose secret is secret. Unknown and revoked
// secrets get the same Unauthorized error, so a caller learns nothing from it.
// The lookup is by the hash, so timing depends on the hash, not the secret.
func (ex *executor) KeyBySecret(ctx context.Context, secret string) (*APIKey, error) {
	if !strings.HasPrefix(secret, secretPrefix) || len(secret) > 200 {
		return nil, fault.New(fault.Unauthorized, "invalid API key")
	}
	// pgx, not GORM: only a lookup that completed and found no row is an
	// unknown key. A query cut off by a database outage must not read as a
	// bad credential, or the auth-failure throttle would lock out every
	// client of an address while the database restarts.
	var k APIKey
	var scopes []string
	err := ex.q.QueryRow(ctx, `SELECT id, name, secret_hash, secret_hint, scopes, rate_limit, max_batch_size,
		may_auto_approve, van_app, van_db_mode, rocky_partner_id, webhook_secret, created_at, revoked_at
		FROM api_keys WHERE secret_hash = $1`, HashSecret(secret)).Scan(
		&k.ID, &k.Name, &k.SecretHash, &k.SecretHint, &scopes, &k.RateLimit, &k.MaxBatchSize,
		&k.MayAutoApprove, &k.VANApp, &k.VANDBMode, &k.RockyPartnerID, &k.WebhookSecret, &k.CreatedAt, &k.RevokedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fault.New(fault.Unauthorized, "invalid API key")
	}
	if err != nil {
		return nil, fmt.Errorf("look up key: %w", err)
	}
	k.Scopes = scopes
	if k.RevokedAt != nil {
		return nil, fault.New(fault.Unauthorized, "invalid API key")
	}
	return &k, nil
}

// Key returns a key by id, revoked or not.
func (s *Store) Key(ctx context.Context, id int64) (*APIKey, error) {
	var k APIKey
	if err := s.orm.WithContext(ctx).Take(&k, id).Error; err != nil {
		return nil, notFound(err, "key")
	}
	return &k, nil
}

// ListKeys returns every key, oldest first.
func (s *Store) ListKeys(ctx context.Context) ([]APIKey, error) {
	var keys []APIKey
	err := s.orm.WithContext(ctx).Order("id").Find(&keys).Error
	return keys, err
}

// RevokeKey revokes a key at once; revoking twice is not an error.
func (ex *executor) RevokeKey(ctx context.Context, id int64) error {
	tag, err := ex.q.Exec(ctx, `UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("revoke key: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fault.New(fault.NotFound, "key %d not found", id)
	}
	return nil
}

// KeyFileLoadConcurrency returns the key's own limit of file loads at
// once, or 0 when it has none (or no longer exists).
func (ex *executor) KeyFileLoadConcurrency(ctx context.Context, id int64) (int, error) {
	var n *int
	err := ex.q.QueryRow(ctx, `SELECT fileload_concurrency FROM api_keys WHERE id = $1`, id).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && n == nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read key %d's file-load limit: %w", id, err)
	}
	return *n, nil
}

// SetKeyFileLoadConcurrency sets the key's own limit of file loads at once;
// 0 returns it to the deployment's default.
func (ex *executor) SetKeyFileLoadConcurrency(ctx context.Context, id int64, n int) error {
	if n < 0 {
		return fault.Validation(fault.FieldError{Field: "fileload-concurrency", Code: fault.CodeOutOfRange, Message: "must be positive (0: the deployment's default)"})
	}
	tag, err := ex.q.Exec(ctx, `UPDATE api_keys SET fileload_concurrency = nullif($2, 0) WHERE id = $1`, id, n)
	if err != nil {
		return fmt.Errorf("set key %d's file-load limit: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fault.New(fault.NotFound, "key %d not found", id)
	}
	return nil
}

// SetKeyLimits changes a key's call rate and batch size; a nil value is
// left as it is.
func (ex *executor) SetKeyLimits(ctx context.Context, id int64, rateLimit, batchSize *int) error {
	for _, v := range []*int{rateLimit, batchSize} {
		if v != nil && *v <= 0 {
			return fault.New(fault.Invalid, "limits must be positive")
		}
	}
	tag, err := ex.q.Exec(ctx, `UPDATE api_keys SET rate_limit = coalesce($2, rate_limit),
		max_batch_size = coalesce($3, max_batch_size) WHERE id = $1`, id, rateLimit, batchSize)
	if err != nil {
		return fmt.Errorf("set key limits: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fault.New(fault.NotFound, "key %d not found", id)
	}
	return nil
}

// RotateWebhookSecret replaces a key's webhook signing secret and returns it.
func (ex *executor) RotateWebhookSecret(ctx context.Context, id int64) (string, error) {
	secret := newWebhookSecret()
	var got int64
	err := ex.q.QueryRow(ctx, `UPDATE api_keys SET webhook_secret = $2 WHERE id = $1 RETURNING id`, id, secret).Scan(&got)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fault.New(fault.NotFound, "key %d not found", id)
	}
	return secret, err
}

// newWebhookSecret returns a Standard Webhooks secret: "whsec_" and base64 of
// 32 random bytes.
func newWebhookSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// randomToken returns n random bytes, base64url-encoded (no '|' or ':', which
// VAN's Basic credential "app:secret|mode" uses as separators).
func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
