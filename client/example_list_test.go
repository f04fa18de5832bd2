package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/turnoutdev/turnout/client"
)

// Iterate over every failed job of the last day, fetching pages of 100 as
// the loop reaches them, and retry each.
func ExampleClient_All() {
	c, err := client.New("http://127.0.0.1:8080", os.Getenv("TURNOUT_API_KEY"))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	filter := client.ListOptions{
		Status:       []client.Status{client.StatusFailed},
		CreatedAfter: time.Now().Add(-24 * time.Hour),
		Limit:        100,
	}
	for job, err := range c.All(ctx, filter) {
		if err != nil {
			log.Fatal(err)
		}
		if _, err := c.Retry(ctx, job.ID); errors.Is(err, client.ErrConflict) {
			continue // retried meanwhile by someone else
		} else if err != nil {
			log.Fatal(err)
		}
		fmt.Println("retried", job.ID, job.Kind)
	}
}
