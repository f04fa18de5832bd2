//go:build chaos

package e2e

import (
	"strings"
	"testing"
	"time"
)

// A Sentinel group (one primary, one replica, three sentinels) loses its
// primary under a steady load of file loads and registrations. Sentinel
// promotes the replica; the API and the worker follow it without a
// restart; every surface answers 503 with Retry-After or serves (never
// another 5xx) during the switch, /readyz keeps the pods in service, and
// every accepted job finishes exactly once.
func TestChaosSentinelFailoverUnderLoad(t *testing.T) {
	g := startSentinelGroup(t)
	s := StartStack(t, append(haEnv(t), "TURNOUT_REDIS_URL="+g.url())...)
	l := newHALoad(t, s)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { l.run(stop); close(done) }()

	time.Sleep(2 * time.Second) // steady load before the failure
	old := g.masterPort()
	g.primary.kill()
	killed := time.Now()
	g.waitFor(t, 30*time.Second, "promotion of the replica", func() bool {
		p := g.masterPort()
		return p != "" && p != old
	})
	t.Logf("Sentinel promoted the replica %s after the primary was killed", time.Since(killed).Round(100*time.Millisecond))
	time.Sleep(3 * time.Second) // load goes on against the new primary
	close(stop)
	<-done
	s.assertRunning(t)
	l.verify(60 * time.Second)
	if logs := s.Logs.String(); !strings.Contains(logs, "connection refused") || !strings.Contains(logs, `new master="turnout"`) {
		t.Errorf("the processes never lost the primary or never learned of the new one; the test did not exercise a switch")
	}
	s.Stop()
}

// The suite's smoke test and the same steady load pass on a Redis Cluster
// of three primaries: queues, the reconciler's lock, the rate limiter,
// usage counters, /status and the dashboard all work across hash slots.
func TestChaosClusterRunsTheSmokeTestAndTheLoad(t *testing.T) {
	url := startCluster(t)
	env := append(haEnv(t), "TURNOUT_REDIS_URL="+url)
	stackServesOperatorsAndClients(t, StartStack(t, env...))

	s := StartStack(t, env...)
	l := newHALoad(t, s)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { l.run(stop); close(done) }()
	time.Sleep(4 * time.Second)
	close(stop)
	<-done
	l.verify(60 * time.Second)
	if l.answers["Rocky 503"]+l.answers["VAN 503"]+l.answers["native 503"] > 0 {
		t.Errorf("a healthy cluster answered 503: %v", l.answers)
	}
	s.Stop()
}
