package storage_test

import (
	"context"
	"fmt"
	"strconv"

	"github.com/turnoutdev/turnout/storage"
)

// A loader reads a code list once per load and checks each row's id
// against it: an id that is missing or deactivated makes the row invalid.
// (Compiled, not run: it needs a database.)
func ExampleStore_ActiveCodes() {
	ctx := context.Background()
	store, err := storage.Open(ctx, "postgres://postgres@127.0.0.1:5432/turnout?sslmode=disable")
	if err != nil {
		panic(err)
	}
	defer store.Close()
	statuses, err := store.ActiveCodes(ctx, storage.TargetTypeBallotReturnStatus)
	if err != nil {
		panic(err)
	}
	cell := 14 // the file's BallotReturnStatus column
	if _, ok := statuses[strconv.Itoa(cell)]; !ok {
		fmt.Printf("BallotReturnStatus: %d is not an active ballot return status\n", cell)
	}
}
