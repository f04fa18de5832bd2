package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
)

// keyIDs collects repeated --key-id flags.
type keyIDs []int64

func (k *keyIDs) String() string { return fmt.Sprint(*k) }

func (k *keyIDs) Set(s string) error {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return fmt.Errorf("%q is not a key id", s)
	}
	*k = append(*k, id)
	return nil
}

func foldersCmd(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] != "create" {
		return errors.New("usage: turnout folders create --name N [--api-writable] [--key-id K ...] [--json]")
	}
	fs := flag.NewFlagSet("folders create", flag.ContinueOnError)
	fs.SetOutput(e.errOut)
	name := fs.String("name", "", "the folder's name (required)")
	writable := fs.Bool("api-writable", false, "API keys it is shared with may load saved lists into it (LoadSavedListFile)")
	var keys keyIDs
	fs.Var(&keys, "key-id", "share the folder with this API key (repeat for several)")
	asJSON := fs.Bool("json", false, "print one JSON object (for scripts)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	*name = strings.TrimSpace(*name)
	if *name == "" || len(*name) > 100 {
		return errors.New("--name is required (at most 100 characters)")
	}
	s, err := e.openStore(ctx)
	if err != nil {
		return err
	}
	f, err := s.CreateFolder(ctx, *name, *writable, keys)
	if err != nil {
		return err
	}
	if *asJSON {
		if f.KeyIDs == nil {
			f.KeyIDs = []int64{}
		}
		return json.NewEncoder(e.out).Encode(map[string]any{"folderId": f.ID, "name": f.Name, "apiWritable": f.APIWritable, "keyIds": f.KeyIDs})
	}
	fmt.Fprintf(e.out, "folder %d %q created (API-writable: %v, shared with keys %v)\n", f.ID, f.Name, f.APIWritable, f.KeyIDs)
	return nil
}
