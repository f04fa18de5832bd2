package main

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"

	"github.com/turnoutdev/turnout/internal/testkit/testenv"
	"github.com/turnoutdev/turnout/storage"
)

func TestFoldersCreateSharesWithKeys(t *testing.T) {
	env := testenv.Get(t)
	k, err := env.Store.CreateKey(context.Background(), storage.NewKey{Name: "folders", Scopes: []string{storage.ScopeVAN}})
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := turnoutIO(t, "folders", "create", "--name", "Field lists", "--api-writable", "--key-id", itoa(k.ID), "--json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		FolderID    int64
		Name        string
		APIWritable bool
		KeyIDs      []int64
	}
	if err := json.Unmarshal([]byte(out), &f); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	got, ok, err := env.Store.FolderOfKey(context.Background(), f.FolderID, k.ID)
	if err != nil || !ok || !got.APIWritable || got.Name != "Field lists" || len(f.KeyIDs) != 1 || f.KeyIDs[0] != k.ID {
		t.Errorf("folder %+v (ok %v, err %v) from %s", got, ok, err, out)
	}
	if _, _, err := turnoutIO(t, "folders", "create", "--api-writable"); err == nil || err.Error() != "--name is required (at most 100 characters)" {
		t.Errorf("no name: err %v", err)
	}
	if _, _, err := turnoutIO(t, "folders", "create", "--name", "x", "--key-id", "abc"); err == nil {
		t.Error("bad key id accepted")
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
