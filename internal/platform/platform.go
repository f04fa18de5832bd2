// Package platform opens the connections every Turnout binary shares
// (PostgreSQL, Redis for Asynq and for rate limits, the blob store) from a
// Config, so the three mains wire the same way and close in the right order.
package platform

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/turnoutdev/turnout/internal/config"
	"github.com/turnoutdev/turnout/internal/crypt"
	"github.com/turnoutdev/turnout/jobs"
	"github.com/turnoutdev/turnout/storage"
)

// Platform is the set of open connections.
type Platform struct {
	Config    *config.Config
	Log       *slog.Logger
	Store     *storage.Store
	Redis     *redis.Client
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
	var err error
	if p.Store, err = storage.Open(ctx, cfg.DatabaseURL); err != nil {
		return nil, err
	}
	if p.Store.Secrets, err = crypt.NewRing(cfg.EncryptionKeys); err != nil {
		p.Close()
		return nil, fmt.Errorf("TURNOUT_ENCRYPTION_KEY: %w", err)
	}
	ropt, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("TURNOUT_REDIS_URL: %w", err)
	}
	p.Redis = redis.NewClient(ropt)
	if err := p.Redis.Ping(ctx).Err(); err != nil {
		p.Close()
		return nil, fmt.Errorf("connect to redis at %s: %w", ropt.Addr, err)
	}
	p.AsynqConn = asynq.RedisClientOpt{
		Network: ropt.Network, Addr: ropt.Addr, Username: ropt.Username, Password: ropt.Password,
		DB: ropt.DB, TLSConfig: ropt.TLSConfig,
	}
	p.Asynq = asynq.NewClient(p.AsynqConn)
	p.Enqueuer = jobs.NewEnqueuer(p.Store, p.Asynq, log)
	if p.Blobs, err = storage.OpenBlobs(ctx, cfg.BlobURL); err != nil {
		p.Close()
		return nil, fmt.Errorf("TURNOUT_BLOB_URL: %w", err)
	}
	return p, nil
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
	if p.Store != nil {
		p.Store.Close()
	}
}
