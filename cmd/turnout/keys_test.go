package main

import (
	"context"
	"strconv"
	"testing"

	"github.com/turnoutdev/turnout/internal/testkit/testenv"
	"github.com/turnoutdev/turnout/storage"
)

// Every change to a key through the CLI moves the key epoch, which tells
// every API process to drop the keys it caches.
func TestKeyChangesMoveTheKeyEpoch(t *testing.T) {
	env := testenv.Get(t)
	t.Setenv("TURNOUT_REDIS_URL", env.RedisURL)
	ctx := context.Background()
	k, err := env.Store.CreateKey(ctx, storage.NewKey{Name: t.Name(), Scopes: []string{"van"}})
	if err != nil {
		t.Fatal(err)
	}
	id := strconv.FormatInt(k.ID, 10)
	for _, args := range [][]string{
		{"keys", "set", id, "--rate-limit", "9"},
		{"keys", "set-fileload-concurrency", id, "2"},
		{"keys", "rotate-webhook-secret", id},
		{"keys", "revoke", id},
	} {
		before, _ := env.Redis.Get(ctx, storage.KeyEpochKey).Int64()
		if out, err := turnoutOut(t, args...); err != nil {
			t.Fatalf("%v: %v %s", args, err, out)
		}
		if after, _ := env.Redis.Get(ctx, storage.KeyEpochKey).Int64(); after != before+1 {
			t.Errorf("%v: key epoch %d → %d, want it moved by one", args, before, after)
		}
	}
}
