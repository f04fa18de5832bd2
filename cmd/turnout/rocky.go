package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"

	"github.com/turnoutdev/turnout/jobs/registration"
	"github.com/turnoutdev/turnout/storage"
)

func rockyCmd(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return errors.New("usage: turnout rocky partner-create|reencrypt")
	}
	switch args[0] {
	case "partner-create":
		return rockyPartnerCreate(ctx, e, args[1:])
	case "reencrypt":
		s, err := e.openStore(ctx)
		if err != nil {
			return err
		}
		svc, err := registration.NewService(registration.Options{EncryptionKeys: e.cfg.EncryptionKeys}, s, nil)
		if err != nil {
			return err
		}
		n, err := svc.Reencrypt(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.out, "%d ID numbers re-encrypted under the first key of TURNOUT_ENCRYPTION_KEY\n", n)
		return nil
	}
	return fmt.Errorf("unknown rocky command %q", args[0])
}

// rockyPartnerCreate creates a Rocky partner and its API key, as POST
// /api/v4/partners.json does, for operators without an admin key at hand.
func rockyPartnerCreate(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("rocky partner-create", flag.ContinueOnError)
	fs.SetOutput(e.errOut)
	// The fields POST partners.json requires, as flags.
	fields := map[string]*string{}
	for _, f := range []struct{ flag, field, usage string }{
		{"org-name", "org_name", "organisation name"}, {"org-url", "org_URL", "organisation web site (http or https)"},
		{"contact-name", "contact_name", "contact person"}, {"contact-email", "contact_email", "contact e-mail"},
		{"contact-phone", "contact_phone", "contact phone (10 digits)"}, {"contact-address", "contact_address", "contact street address"},
		{"contact-city", "contact_city", "contact city"}, {"contact-state", "contact_state", "contact state (2 letters)"},
		{"contact-zip", "contact_ZIP", "contact ZIP code (5 digits)"},
	} {
		fields[f.field] = fs.String(f.flag, "", f.usage+" (required)")
	}
	batch := fs.Int("batch-size", e.cfg.RockyBatchSize, "records one bulk call of the partner's key may carry")
	asJSON := fs.Bool("json", false, "print one JSON object (for scripts)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	in := registration.Input{}
	for k, v := range fields {
		if *v != "" {
			in[k], _ = json.Marshal(*v)
		}
	}
	ref, err := registration.LoadReference()
	if err != nil {
		return err
	}
	p, err := (&registration.Validator{Ref: ref}).NewPartner(in)
	if err != nil {
		return err
	}
	s, err := e.openStore(ctx)
	if err != nil {
		return err
	}
	created, err := s.CreateRockyPartner(ctx, p, *batch)
	if err != nil {
		return err
	}
	return printPartner(e, created, *asJSON)
}

func printPartner(e *env, c *storage.CreatedPartner, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(e.out).Encode(map[string]any{
			"partner_id": fmt.Sprint(c.Partner.ID), "partner_API_key": c.Key.Secret, "key_id": c.Key.ID,
			"org_name": c.Partner.OrgName,
		})
	}
	fmt.Fprintf(e.out, "partner %d %q created (key %d)\n", c.Partner.ID, c.Partner.OrgName, c.Key.ID)
	fmt.Fprintf(e.out, "partner_API_key (shown once, store it now): %s\n", c.Key.Secret)
	return nil
}
