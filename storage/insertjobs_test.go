package storage_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/turnoutdev/turnout/internal/crypt"
	"github.com/turnoutdev/turnout/internal/testkit/testenv"
	"github.com/turnoutdev/turnout/storage"
)

// A batch of new jobs goes in as one statement with the file loads of the
// jobs that have one: each job keeps its place in the batch, each file load
// lands beside its own job, and a source URL with credentials is sealed
// with its job's id even though the ids are drawn in the statement.
func TestInsertJobsWritesEachFileLoadBesideItsJob(t *testing.T) {
	env := testenv.Get(t)
	ctx := context.Background()
	ring, err := crypt.NewRing([][]byte{bytes.Repeat([]byte{7}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	env.Store.Secrets = ring
	t.Cleanup(func() { env.Store.Secrets = nil })
	k, err := env.Store.CreateKey(ctx, storage.NewKey{Name: "batch", Scopes: []string{"van"}})
	if err != nil {
		t.Fatal(err)
	}
	load := func(desc, src string) *storage.FileLoad {
		return &storage.FileLoad{KeyID: k.ID, DBMode: 1, Description: desc, Request: []byte(`{"description":"` + desc + `"}`),
			SourceURL: src, Listeners: []byte(`[]`)}
	}
	for _, sealed := range []bool{false, true} {
		secret := "https://files.example.org/plain.zip"
		if sealed {
			secret = "sftp://loader:s3cret@files.example.org/scores.zip"
		}
		ns := []storage.NewJob{
			{Kind: "noop", Queue: "default"},
			{Kind: "van.fileload", Queue: "fileload", KeyID: &k.ID, FileLoad: load("first", "https://files.example.org/a.zip")},
			{Kind: "noop", Queue: "default"},
			{Kind: "van.fileload", Queue: "fileload", KeyID: &k.ID, FileLoad: load("second", secret)},
		}
		js, err := env.Store.InsertJobs(ctx, ns)
		if err != nil {
			t.Fatal(err)
		}
		if len(js) != len(ns) {
			t.Fatalf("sealed=%v: %d jobs back, want %d", sealed, len(js), len(ns))
		}
		for i, j := range js {
			if j.Kind != ns[i].Kind || (i > 0 && j.ID <= js[i-1].ID) {
				t.Fatalf("sealed=%v: job %d is %s #%d, want %s after #%d", sealed, i, j.Kind, j.ID, ns[i].Kind, js[max(i-1, 0)].ID)
			}
		}
		for i, want := range map[int]string{1: "https://files.example.org/a.zip", 3: secret} {
			fl, err := env.Store.FileLoad(ctx, js[i].ID)
			if err != nil {
				t.Fatalf("sealed=%v: file load of job %d: %v", sealed, i, err)
			}
			if fl.SourceURL != want || fl.KeyID != k.ID || fl.DBMode != 1 {
				t.Errorf("sealed=%v: job %d's file load = %s key %d mode %d, want %s key %d mode 1",
					sealed, i, fl.Description, fl.KeyID, fl.DBMode, want, k.ID)
			}
		}
		var stored string
		if err := env.Pool.QueryRow(ctx, `SELECT source_url FROM van_file_loads WHERE job_id = $1`, js[3].ID).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if sealed != strings.HasPrefix(stored, "sealed:") || strings.Contains(stored, "s3cret") {
			t.Errorf("sealed=%v: stored source_url %q", sealed, stored)
		}
		var plainLoads int
		if err := env.Pool.QueryRow(ctx, `SELECT count(*) FROM van_file_loads WHERE job_id = ANY($1)`,
			[]int64{js[0].ID, js[2].ID}).Scan(&plainLoads); err != nil || plainLoads != 0 {
			t.Errorf("sealed=%v: jobs without a file load have %d file loads (err %v), want 0", sealed, plainLoads, err)
		}
	}
}

// One job with a file load through InsertJob is the same insert, its text
// made valid before it reaches PostgreSQL.
func TestInsertJobWithAFileLoad(t *testing.T) {
	env := testenv.Get(t)
	ctx := context.Background()
	k, err := env.Store.CreateKey(ctx, storage.NewKey{Name: "single", Scopes: []string{"van"}})
	if err != nil {
		t.Fatal(err)
	}
	j, err := env.Store.InsertJob(ctx, storage.NewJob{Kind: "van.fileload", Queue: "fileload", KeyID: &k.ID,
		FileLoad: &storage.FileLoad{KeyID: k.ID, Description: "bad \xff text", Request: []byte(`{}`), SourceURL: "https://x.example/f.zip"}})
	if err != nil {
		t.Fatal(err)
	}
	fl, err := env.Store.FileLoad(ctx, j.ID)
	if err != nil || fl.JobID != j.ID || fl.Description != `bad \xff text` || string(fl.Listeners) != "[]" {
		t.Fatalf("FileLoad = %+v, %v", fl, err)
	}
}
