// Package platform opens the connections every Turnout binary shares
// (PostgreSQL, Redis for Asynq and for rate limits, the blob store) from a
// Config, so the three mains wire the same way and close in the right order.
package platform

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/turnoutdev/turnout/internal/config"
	"github.com/turnoutdev/turnout/internal/crypt"
	"github.com/turnoutdev/turnout/internal/redisconn"
	"github.com/turnoutdev/turnout/jobs"
	"github.com/turnoutdev/turnout/storage"
)

// Platform is the set of open connections.
type Platform struct {
	Config *config.Config
	Log    *slog.Logger
	Store  *storage.Store
	// Replica is the read replica for long reads, or Store when
	// TURNOUT_DATABASE_REPLICA_URL is unset.
	Replica   *storage.Store
	Redis     redis.UniversalClient
	AsynqConn asynq.RedisConnOpt
	Asynq     *asynq.Client
	Enqueuer  *jobs.Enqueuer
	Blobs     storage.Blobs
}

// NewLogger returns the JSON logger every binary uses.
func NewLogger(level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(strings.ToUpper(level)))
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}

// Open connects to everything cfg names.
func Open(ctx context.Context, cfg *config.Config, log *slog.Logger) (*Platform, error) {
	p := &Platform{Config: cfg, Log: log}
	// Services started together (compose, a reboot) come up in any order:
	// wait for the database and Redis rather than exit and rely on a
	// restart policy.
	deadline := time.Now().Add(cfg.StartupWait)
	var err error
	if err = waitFor(ctx, log, "PostgreSQL", deadline, func() error {
		p.Store, err = storage.Open(ctx, cfg.DatabaseURL)
		if errors.Is(err, storage.ErrBadURL) {
			return permanent{err}
		}
		return err
	}); err != nil {
		return nil, err
	}
	if p.Store.Secrets, err = crypt.NewRing(cfg.EncryptionKeys); err != nil {
		p.Close()
		return nil, fmt.Errorf("TURNOUT_ENCRYPTION_KEY: %w", err)
	}
	if err := p.openReplica(ctx, cfg, deadline); err != nil {
		p.Close()
		return nil, err
	}
	top := cfg.Redis
	if top == nil {
		if top, err = redisconn.Parse(cfg.RedisURL); err != nil {
			p.Close()
			return nil, fmt.Errorf("TURNOUT_REDIS_URL: %w", err)
		}
	}
	p.Redis = top.NewClient()
	if err := waitFor(ctx, log, "Redis", deadline, func() error {
		if err := p.Redis.Ping(ctx).Err(); err != nil {
			return fmt.Errorf("connect to redis (%s): %w", top, err)
		}
		return nil
	}); err != nil {
		p.Close()
		return nil, err
	}
	p.AsynqConn = top.AsynqConn()
	p.Asynq = asynq.NewClient(p.AsynqConn)
	p.Enqueuer = jobs.NewEnqueuer(p.Store, p.Asynq, log)
	if p.Blobs, err = storage.OpenBlobs(ctx, cfg.BlobURL); err != nil {
		p.Close()
		return nil, fmt.Errorf("TURNOUT_BLOB_URL: %w", err)
	}
	return p, nil
}

// openReplica opens the read replica if one is configured; otherwise
// Replica is the primary's Store.
func (p *Platform) openReplica(ctx context.Context, cfg *config.Config, deadline time.Time) error {
	if cfg.DatabaseReplicaURL == "" {
		p.Replica = p.Store
		return nil
	}
	return waitFor(ctx, p.Log, "the PostgreSQL replica", deadline, func() error {
		var err error
		p.Replica, err = storage.Open(ctx, cfg.DatabaseReplicaURL)
		if errors.Is(err, storage.ErrBadURL) {
			return permanent{fmt.Errorf("TURNOUT_DATABASE_REPLICA_URL: %w", err)}
		}
		return err
	})
}

// permanent is an error waiting will not cure (a malformed URL).
type permanent struct{ error }

// waitFor calls try until it succeeds, fails for good (permanent) or
// deadline passes, once a second, saying in the log what it waits for.
func waitFor(ctx context.Context, log *slog.Logger, what string, deadline time.Time, try func() error) error {
	for {
		err := try()
		var perm permanent
		switch {
		case err == nil:
			return nil
		case errors.As(err, &perm):
			return perm.error
		case !time.Now().Before(deadline):
			return err
		}
		log.Warn("waiting for "+what, "err", err, "until", deadline.Format(time.RFC3339))
		select {
		case <-ctx.Done():
			return fmt.Errorf("stopped while waiting for %s: %w", what, err)
		case <-time.After(time.Second):
		}
	}
}

// Close closes whatever was opened.
func (p *Platform) Close() {
	if p.Blobs != nil {
		_ = p.Blobs.Close()
	}
	if p.Asynq != nil {
		_ = p.Asynq.Close()
	}
	if p.Redis != nil {
		_ = p.Redis.Close()
	}
	if p.Replica != nil && p.Replica != p.Store {
		p.Replica.Close()
	}
	if p.Store != nil {
		p.Store.Close()
	}
}

// WaitForSchema waits until the database has applied every migration this
// binary carries, saying in the log (at once, then every 30 s) that an
// operator must run `turnout migrate up`.
func WaitForSchema(ctx context.Context, s *storage.Store, log *slog.Logger) error {
	for i := 0; ; i++ {
		n, err := s.PendingMigrations(ctx)
		if err == nil && n == 0 {
			if i > 0 {
				log.Info("database schema is up to date")
			}
			return nil
		}
		if i%15 == 0 {
			args := []any{"pending", n}
			if err != nil {
				args = append(args, "err", err)
			}
			log.Warn("waiting for the database schema: run `turnout migrate up`", args...)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("stopped while waiting for migrations: %w", ctx.Err())
		case <-time.After(2 * time.Second):
		}
	}
}
