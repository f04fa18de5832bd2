package client_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/turnoutdev/turnout/client"
)

// Create a job and wait for it to end. Wait follows the job's event stream
// and polls instead when the server or a proxy does not stream.
func ExampleClient_Wait() {
	c, err := client.New("http://127.0.0.1:8080", os.Getenv("TURNOUT_API_KEY"))
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	job, err := c.Create(ctx, client.CreateParams{SleepMS: 500})
	if err != nil {
		log.Fatal(err) // a *client.Error: its GatewayID is what an operator needs
	}
	job, err = c.Wait(ctx, job.ID)
	if err != nil {
		log.Fatal(err)
	}
	if err := job.Err(); err != nil {
		log.Fatalf("job %d: %v", job.ID, err) // failed or canceled, with the job's caller-safe error
	}
	fmt.Println("job", job.ID, job.Status)
}

// Follow a job's progress as it happens.
func ExampleClient_Watch() {
	c, err := client.New("http://127.0.0.1:8080", os.Getenv("TURNOUT_API_KEY"))
	if err != nil {
		log.Fatal(err)
	}
	for ev, err := range c.Watch(context.Background(), 42) {
		if err != nil {
			log.Fatal(err)
		}
		j := ev.Job
		fmt.Printf("%s: %s, %d of %d rows\n", ev.Name, j.Status, j.ProgressDone, j.ProgressTotal)
	}
}
