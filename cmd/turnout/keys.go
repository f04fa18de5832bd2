package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/turnoutdev/turnout/internal/redisconn"
	"github.com/turnoutdev/turnout/storage"
)

func keysCmd(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return errors.New("usage: turnout keys create|list|set|revoke|rotate-webhook-secret|set-fileload-concurrency")
	}
	switch args[0] {
	case "create":
		return keysCreate(ctx, e, args[1:])
	case "list":
		return keysList(ctx, e, args[1:])
	case "revoke":
		id, err := keyIDArg(args[1:])
		if err != nil {
			return err
		}
		s, err := e.openStore(ctx)
		if err != nil {
			return err
		}
		if err := s.RevokeKey(ctx, id); err != nil {
			return err
		}
		e.keysChanged(ctx)
		fmt.Fprintf(e.out, "key %d revoked\n", id)
		return nil
	case "set-fileload-concurrency":
		return keysSetFileLoadConcurrency(ctx, e, args[1:])
	case "set":
		return keysSet(ctx, e, args[1:])
	case "rotate-webhook-secret":
		fs := flag.NewFlagSet("keys rotate-webhook-secret", flag.ContinueOnError)
		asJSON := fs.Bool("json", false, "print JSON")
		id, err := keyIDArg(parseInterspersed(fs, args[1:]))
		if err != nil {
			return err
		}
		s, err := e.openStore(ctx)
		if err != nil {
			return err
		}
		secret, err := s.RotateWebhookSecret(ctx, id)
		if err != nil {
			return err
		}
		e.keysChanged(ctx)
		if *asJSON {
			return json.NewEncoder(e.out).Encode(map[string]any{"id": id, "webhookSecret": secret})
		}
		fmt.Fprintf(e.out, "new webhook signing secret for key %d (shown once): %s\n", id, secret)
		return nil
	}
	return fmt.Errorf("unknown keys command %q", args[0])
}

// keysSet changes a key's call rate and batch size (a Rocky partner's
// bulk calls, a VAN key's, ...).
func keysSet(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("keys set", flag.ContinueOnError)
	fs.SetOutput(e.errOut)
	rate := fs.Int("rate-limit", 0, "calls per minute")
	batch := fs.Int("batch-size", 0, "largest batch a bulk call may carry")
	id, err := keyIDArg(parseInterspersed(fs, args))
	if err != nil {
		return err
	}
	var rp, bp *int
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "rate-limit":
			rp = rate
		case "batch-size":
			bp = batch
		}
	})
	if rp == nil && bp == nil {
		return errors.New("keys set: give --rate-limit and/or --batch-size")
	}
	s, err := e.openStore(ctx)
	if err != nil {
		return err
	}
	if err := s.SetKeyLimits(ctx, id, rp, bp); err != nil {
		return err
	}
	e.keysChanged(ctx)
	fmt.Fprintf(e.out, "key %d updated\n", id)
	return nil
}

func keyIDArg(args []string) (int64, error) {
	if len(args) != 1 {
		return 0, errors.New("want one key id")
	}
	id, err := strconv.ParseInt(args[0], 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("%q is not a key id", args[0])
	}
	return id, nil
}

// parseInterspersed parses flags wherever they stand among positional args.
func parseInterspersed(fs *flag.FlagSet, args []string) []string {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return pos
		}
		if fs.NArg() == 0 {
			return pos
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func keysCreate(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("keys create", flag.ContinueOnError)
	fs.SetOutput(e.errOut)
	name := fs.String("name", "", "a name to recognise the key by (required)")
	scopes := fs.String("scopes", "", "services the key may call: "+strings.Join(storage.AllScopes, ","))
	rate := fs.Int("rate-limit", 300, "calls per minute")
	batch := fs.Int("batch-size", 0, "largest batch a bulk call may carry (default 20; 1000 for a Rocky partner's key)")
	autoApprove := fs.Bool("auto-approve", false, "may auto-approve score updates (VAN approvalCriteria)")
	vanApp := fs.String("van-app", "", "VAN application name (the HTTP Basic user)")
	dbMode := fs.String("db-mode", "", "VAN database mode: 0 = My Voters, 1 = My Campaign")
	partner := fs.Int64("partner-id", 0, "Rocky partner id the key belongs to")
	loads := fs.Int("fileload-concurrency", 0, "file loads of this key run at once across all workers (0: TURNOUT_KEY_FILELOAD_CONCURRENCY)")
	asJSON := fs.Bool("json", false, "print one JSON object (for scripts)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	n := storage.NewKey{
		Name: *name, RateLimit: *rate, MaxBatchSize: *batch, MayAutoApprove: *autoApprove,
		VANApp: *vanApp, FileLoadConcurrency: *loads,
	}
	for _, s := range strings.Split(*scopes, ",") {
		if s = strings.TrimSpace(s); s != "" {
			n.Scopes = append(n.Scopes, s)
		}
	}
	if *dbMode != "" {
		m, err := strconv.ParseInt(*dbMode, 10, 16)
		if err != nil {
			return fmt.Errorf("--db-mode: want 0 or 1, not %q", *dbMode)
		}
		mm := int16(m)
		n.VANDBMode = &mm
	}
	if *partner != 0 {
		n.RockyPartnerID = partner
	}
	if err := n.Validate(); err != nil {
		return err
	}
	s, err := e.openStore(ctx)
	if err != nil {
		return err
	}
	k, err := s.CreateKey(ctx, n)
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(e.out).Encode(keyJSON(k))
	}
	fmt.Fprintf(e.out, "key %d %q created with scopes %s\n", k.ID, k.Name, strings.Join(k.Scopes, ","))
	fmt.Fprintf(e.out, "secret (shown once, store it now): %s\n", k.Secret)
	if k.VANApp != nil {
		fmt.Fprintf(e.out, "VAN clients authenticate as %s:%s|%d\n", *k.VANApp, k.Secret, *k.VANDBMode)
	}
	fmt.Fprintf(e.out, "webhook signing secret: %s\n", k.WebhookSecret)
	return nil
}

func keyJSON(k *storage.CreatedKey) map[string]any {
	m := map[string]any{
		"id": k.ID, "name": k.Name, "secret": k.Secret, "webhookSecret": k.WebhookSecret,
		"scopes": k.Scopes, "rateLimit": k.RateLimit, "maxBatchSize": k.MaxBatchSize,
		"mayAutoApprove": k.MayAutoApprove, "createdAt": k.CreatedAt,
	}
	if k.VANApp != nil {
		m["vanApp"], m["dbMode"] = *k.VANApp, *k.VANDBMode
	}
	if k.RockyPartnerID != nil {
		m["partnerId"] = *k.RockyPartnerID
	}
	if k.FileLoadConcurrency != nil {
		m["fileLoadConcurrency"] = *k.FileLoadConcurrency
	}
	return m
}

func keysList(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("keys list", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	s, err := e.openStore(ctx)
	if err != nil {
		return err
	}
	keys, err := s.ListKeys(ctx)
	if err != nil {
		return err
	}
	return printList(e.out, *asJSON, keys, "ID\tNAME\tSCOPES\tRATE/MIN\tBATCH\tSECRET\tCREATED\tSTATE", func(k storage.APIKey) []any {
		state := "active"
		if k.RevokedAt != nil {
			state = "revoked " + k.RevokedAt.Format("2006-01-02")
		}
		return []any{k.ID, k.Name, strings.Join(k.Scopes, ","), k.RateLimit, k.MaxBatchSize, "…" + k.SecretHint, k.CreatedAt.Format("2006-01-02"), state}
	})
}

// keysSetFileLoadConcurrency sets how many of a key's file loads run at
// once: turnout keys set-fileload-concurrency ID N (0: the default).
func keysSetFileLoadConcurrency(ctx context.Context, e *env, args []string) error {
	if len(args) != 2 {
		return errors.New("usage: turnout keys set-fileload-concurrency ID N (0: TURNOUT_KEY_FILELOAD_CONCURRENCY)")
	}
	id, err := keyIDArg(args[:1])
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(args[1])
	if err != nil {
		return fmt.Errorf("%q is not a number of file loads", args[1])
	}
	s, err := e.openStore(ctx)
	if err != nil {
		return err
	}
	if err := s.SetKeyFileLoadConcurrency(ctx, id, n); err != nil {
		return err
	}
	e.keysChanged(ctx)
	fmt.Fprintf(e.out, "key %d runs at most %s file loads at once\n", id, map[bool]string{true: "the default number of", false: args[1]}[n == 0])
	return nil
}

// keysChanged tells every API process to drop the keys it caches, so a
// change applies at their next request. When Redis cannot be reached the
// API cannot read it either and then trusts no cached key; the message says
// how long a cached key may otherwise live.
func (e *env) keysChanged(ctx context.Context) {
	topo, err := redisconn.Parse(e.cfg.RedisURL)
	if err == nil {
		rdb := topo.NewClient()
		defer rdb.Close()
		err = storage.BumpKeyEpoch(ctx, rdb)
	}
	if err != nil {
		fmt.Fprintf(e.errOut, "warning: could not tell the API servers over Redis (%v); they apply the change within %s\n",
			err, storage.KeyCacheTTL)
	}
}
