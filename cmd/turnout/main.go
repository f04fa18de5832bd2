// Command turnout is the operator CLI: schema migrations and API keys (later
// issues add seed data, demo and data generators).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/turnoutdev/turnout/internal/config"
	"github.com/turnoutdev/turnout/internal/fault"
	"github.com/turnoutdev/turnout/internal/version"
	"github.com/turnoutdev/turnout/storage"
)

const usage = `usage: turnout <command> [arguments]

commands:
  version                         the module version and VCS revision of this build (also --version)
  migrate up|down|status          apply, roll back one, or list schema migrations
  jobs ls [--status S,..] [--kind K] [--queue Q] [--since 1h] [--limit 50] [--cursor C] [--json]
  jobs show ID [--json]            a job, its attempts and the actions taken on it
  jobs watch ID [--api URL] [--key K] [--poll [--interval 1s]] [--json]
                                   follow a job over the API until it ends: exit 0 succeeded,
                                   2 failed, 3 canceled (TURNOUT_API_URL, TURNOUT_API_KEY)
  jobs cancel ID [--json]          cancel a queued, retrying or running job
  jobs retry ID [--json]           queue a failed or canceled job again
  jobs retry --status failed [--kind K] [--since 1h] [--limit 100] [--json]
                                   retry many
  keys create --name N --scopes a,b [--rate-limit 300] [--batch-size 20, 1000 with --partner-id]
              [--auto-approve] [--van-app APP --db-mode 0|1] [--partner-id ID] [--json]
  keys list [--json]
  keys set ID [--rate-limit N] [--batch-size N]
  keys revoke ID
  keys rotate-webhook-secret ID [--json]
  people import --db-mode 0|1 FILE.csv [--json]
                                   bulk-load VAN people (header names the columns; VANID required)
  gen people --count N [--seed S] [--out FILE]
                                   write deterministic synthetic people as CSV
  scores create --name N [--short-name S] (--min A --max B | --values v1,v2) [--json]
  targets types|values TYPE [--all]|log [--size 20] [--start 0] [--json]
  targets add TYPE --name N --code C [--inactive] [--json]
  targets set TYPE VALUE_ID [--name N] [--active true|false] [--json]
                                  reference code lists (Adhese Target API), logged as CLI
  folders create --name N [--api-writable] [--key-id K ...] [--json]
                                  a saved-list folder shared with API keys
  dev smtp [--addr 127.0.0.1:1025] [--log FILE]
  rocky partner-create --org-name N --org-url U --contact-name N --contact-email E
              --contact-phone P --contact-address A --contact-city C --contact-state S
              --contact-zip Z [--batch-size 1000] [--json]
  rocky reencrypt                 re-encrypt ID numbers under the first TURNOUT_ENCRYPTION_KEY
                                  a local SMTP catcher for demos

Configuration comes from TURNOUT_* environment variables (see docs/configuration.md).
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		var ee *exitError
		if errors.As(err, &ee) {
			fmt.Fprintln(os.Stderr, "turnout:", ee.err)
			os.Exit(ee.code)
		}
		var fe *fault.Error
		if errors.As(err, &fe) && len(fe.Fields) > 0 {
			for _, f := range fe.Fields {
				fmt.Fprintf(os.Stderr, "turnout: --%s: %s\n", f.Field, f.Message)
			}
		} else {
			fmt.Fprintln(os.Stderr, "turnout:", err)
		}
		os.Exit(1)
	}
}

// env is what commands get: config and a lazily opened store.
type env struct {
	cfg    *config.Config
	out    io.Writer
	errOut io.Writer
	store  *storage.Store
}

func (e *env) openStore(ctx context.Context) (*storage.Store, error) {
	if e.store == nil {
		s, err := storage.Open(ctx, e.cfg.DatabaseURL)
		if err != nil {
			return nil, err
		}
		e.store = s
	}
	return e.store, nil
}

func run(ctx context.Context, args []string, out, errOut io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(out, usage)
		return nil
	}
	if args[0] == "version" || args[0] == "--version" {
		fmt.Fprintln(out, "turnout", version.Get())
		return nil
	}
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	e := &env{cfg: cfg, out: out, errOut: errOut}
	defer func() {
		if e.store != nil {
			e.store.Close()
		}
	}()
	switch args[0] {
	case "migrate":
		if len(args) != 2 {
			return errors.New("usage: turnout migrate up|down|status")
		}
		return storage.Migrate(ctx, cfg.DatabaseURL, args[1], out)
	case "jobs":
		return jobsCmd(ctx, e, args[1:])
	case "rocky":
		return rockyCmd(ctx, e, args[1:])
	case "keys":
		return keysCmd(ctx, e, args[1:])
	case "people":
		return peopleCmd(ctx, e, args[1:])
	case "gen":
		return genCmd(ctx, e, args[1:])
	case "scores":
		return scoresCmd(ctx, e, args[1:])
	case "targets":
		return targetsCmd(ctx, e, args[1:])
	case "folders":
		return foldersCmd(ctx, e, args[1:])
	case "dev":
		return devCmd(ctx, e, args[1:])
	}
	return fmt.Errorf("unknown command %q\n\n%s", args[0], usage)
}
