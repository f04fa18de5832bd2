package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os/user"
	"strconv"
	"text/tabwriter"
	"time"

	rules "github.com/turnoutdev/turnout/jobs/targets"
	"github.com/turnoutdev/turnout/storage"
)

const targetsUsage = "usage: turnout targets types|values TYPE|add TYPE --name N --code C|set TYPE VALUE_ID|log"

// targetsCmd manages the reference code lists (the Adhese Target API's
// types and values). Changes go through the same rules as the API and are
// logged with source CLI and the operator's login name.
func targetsCmd(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return errors.New(targetsUsage)
	}
	switch args[0] {
	case "types":
		return targetsTypes(ctx, e, args[1:])
	case "values":
		return targetsValues(ctx, e, args[1:])
	case "add":
		return targetsAdd(ctx, e, args[1:])
	case "set":
		return targetsSet(ctx, e, args[1:])
	case "log":
		return targetsLog(ctx, e, args[1:])
	}
	return fmt.Errorf("unknown targets command %q\n%s", args[0], targetsUsage)
}

// cliActor names the operator in the log: the CLI has no API key.
func cliActor() storage.TargetActor {
	name := "cli"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = "cli:" + u.Username
	}
	return storage.TargetActor{Source: storage.TargetSourceCLI, UserName: name}
}

// targetType resolves TYPE, given as an id or a name.
func targetType(ctx context.Context, s *storage.Store, arg string) (*storage.TargetType, error) {
	if id, err := strconv.ParseInt(arg, 10, 64); err == nil {
		return s.TargetType(ctx, id)
	}
	return s.TargetTypeByName(ctx, arg)
}

func targetsTypes(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("targets types", flag.ContinueOnError)
	fs.SetOutput(e.errOut)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	s, err := e.openStore(ctx)
	if err != nil {
		return err
	}
	types, err := s.TargetTypes(ctx)
	if err != nil {
		return err
	}
	return printList(e.out, *asJSON, types, "ID\tNAME\tEDITABLE", func(t storage.TargetType) []any {
		return []any{t.ID, t.Name, t.Editable}
	})
}

func targetsValues(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("targets values", flag.ContinueOnError)
	fs.SetOutput(e.errOut)
	all := fs.Bool("all", false, "include inactive values")
	asJSON := fs.Bool("json", false, "print JSON")
	pos := parseInterspersed(fs, args)
	if len(pos) != 1 {
		return errors.New("usage: turnout targets values TYPE [--all] [--json] (TYPE is an id or a name)")
	}
	s, err := e.openStore(ctx)
	if err != nil {
		return err
	}
	t, err := targetType(ctx, s, pos[0])
	if err != nil {
		return err
	}
	vals, err := s.TargetValues(ctx, t.ID, *all)
	if err != nil {
		return err
	}
	return printList(e.out, *asJSON, vals, "ID\tCODE\tNAME\tACTIVE", func(v storage.TargetValue) []any {
		return []any{v.ID, v.Code, v.Name, v.Active}
	})
}

func targetsAdd(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("targets add", flag.ContinueOnError)
	fs.SetOutput(e.errOut)
	name := fs.String("name", "", "the value's name (required)")
	code := fs.String("code", "", "the value's code: ^!?[A-Za-z0-9_]+$, unique in the type (required)")
	inactive := fs.Bool("inactive", false, "add the value deactivated")
	asJSON := fs.Bool("json", false, "print the new value as JSON")
	pos := parseInterspersed(fs, args)
	if len(pos) != 1 {
		return errors.New("usage: turnout targets add TYPE --name N --code C [--inactive] [--json]")
	}
	s, err := e.openStore(ctx)
	if err != nil {
		return err
	}
	t, err := targetType(ctx, s, pos[0])
	if err != nil {
		return err
	}
	active := !*inactive
	v, err := rules.NewEditor(s).Add(ctx, t.ID, rules.NewValue{Name: *name, Code: *code, Active: &active}, cliActor())
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(e.out).Encode(v)
	}
	fmt.Fprintf(e.out, "value %d %q (code %s) added to %s\n", v.ID, v.Name, v.Code, t.Name)
	return nil
}

func targetsSet(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("targets set", flag.ContinueOnError)
	fs.SetOutput(e.errOut)
	name := fs.String("name", "", "new name")
	active := fs.String("active", "", "true or false")
	asJSON := fs.Bool("json", false, "print the value as JSON")
	pos := parseInterspersed(fs, args)
	if len(pos) != 2 {
		return errors.New("usage: turnout targets set TYPE VALUE_ID [--name N] [--active true|false] [--json]")
	}
	id, err := strconv.ParseInt(pos[1], 10, 64)
	if err != nil {
		return fmt.Errorf("%q is not a value id", pos[1])
	}
	var c rules.Change
	c.ID = &id
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "name" {
			c.Name = name
		}
	})
	if *active != "" {
		b, err := strconv.ParseBool(*active)
		if err != nil {
			return fmt.Errorf("--active: want true or false, not %q", *active)
		}
		c.Active = &b
	}
	if c.Name == nil && c.Active == nil {
		return errors.New("nothing to change: give --name and/or --active")
	}
	s, err := e.openStore(ctx)
	if err != nil {
		return err
	}
	t, err := targetType(ctx, s, pos[0])
	if err != nil {
		return err
	}
	v, err := rules.NewEditor(s).Update(ctx, t.ID, nil, c, cliActor())
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(e.out).Encode(v)
	}
	fmt.Fprintf(e.out, "value %d of %s: name %q, active %t\n", v.ID, t.Name, v.Name, v.Active)
	return nil
}

func targetsLog(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("targets log", flag.ContinueOnError)
	fs.SetOutput(e.errOut)
	size := fs.Int("size", 20, "rows to show, newest first")
	start := fs.Int("start", 0, "rows to skip from the newest")
	asJSON := fs.Bool("json", false, "print JSON (the API's field names)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *size < 1 || *start < 0 {
		return errors.New("--size must be at least 1 and --start at least 0")
	}
	s, err := e.openStore(ctx)
	if err != nil {
		return err
	}
	rows, err := s.TargetLog(ctx, *start, *size)
	if err != nil {
		return err
	}
	if *asJSON {
		out := make([]map[string]any, len(rows))
		for i, r := range rows {
			var uid int64
			if r.UserID != nil {
				uid = *r.UserID
			}
			out[i] = map[string]any{"id": r.ID, "logAction": r.LogAction, "source": r.Source, "parameters": r.Parameters,
				"userId": uid, "timestamp": r.At.UnixMilli(), "userName": r.UserName}
		}
		return json.NewEncoder(e.out).Encode(out)
	}
	tw := tabwriter.NewWriter(e.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tWHEN\tACTION\tSOURCE\tUSER\tPARAMETERS")
	for _, r := range rows {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.At.UTC().Format(time.RFC3339), r.LogAction, r.Source, r.UserName, r.Parameters)
	}
	return tw.Flush()
}
