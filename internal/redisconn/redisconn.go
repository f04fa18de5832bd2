// Package redisconn turns TURNOUT_REDIS_URL into a Redis topology and is
// the one place that builds Redis clients: the go-redis client the API's
// rate limiter, usage counters and probes use, and the Asynq connection
// option the queues, the reconciler's lock and the dashboard use. Both are
// built from the same parsed Topology, so every part of a process talks to
// the same single node, Sentinel group or Cluster.
//
// High availability is the engines' own: go-redis's failover client asks
// the sentinels for the current primary and follows a switch; its cluster
// client follows MOVED and ASK redirects. Turnout adds no logic of its own.
//
// On a Cluster every command must touch keys of one hash slot. Turnout's
// own keys are each used alone (the rate limiter's GCRA script takes one
// key, a usage counter is one hash, the reconciler's lock is one string);
// Asynq puts each queue's keys under a {queue} hash tag. A script or a
// MULTI that must touch several keys names them with a shared {tag}.
package redisconn

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// Mode is the kind of Redis deployment.
type Mode int

// The three deployments Turnout runs on.
const (
	Single   Mode = iota // one server (redis://, rediss://)
	Sentinel             // a primary and replicas watched by sentinels (redis-sentinel://)
	Cluster              // a Redis Cluster (redis-cluster://)
)

func (m Mode) String() string {
	switch m {
	case Sentinel:
		return "sentinel"
	case Cluster:
		return "cluster"
	}
	return "single"
}

// Topology is a parsed TURNOUT_REDIS_URL.
type Topology struct {
	Mode Mode
	// Addrs is the server (Single), the sentinels (Sentinel) or the seed
	// nodes (Cluster), as host:port.
	Addrs []string
	// MasterName is the name the sentinels monitor the primary under.
	MasterName string
	// Username and Password authenticate to the data nodes.
	Username, Password string
	// SentinelPassword authenticates to the sentinels themselves, which
	// are often left without one.
	SentinelPassword string
	// DB is the logical database (always 0 on a Cluster).
	DB  int
	TLS bool
	// single keeps go-redis's own parse of a redis:// URL, with any of its
	// query options (dial_timeout, pool_size...).
	single *redis.Options
}

// Parse reads one of
//
//	redis://[[user]:password@]host:port[/DB]        (and rediss://, TLS)
//	redis-sentinel://[:password@]host1:26379,host2:26379[/DB]?master=NAME[&sentinel_password=P]
//	redis-cluster://[:password@]host1:7000,host2:7001,...
//
// (rediss-sentinel:// and rediss-cluster:// for TLS). Errors never repeat
// the password.
func Parse(raw string) (*Topology, error) {
	scheme, _, ok := strings.Cut(raw, "://")
	if !ok {
		return nil, fmt.Errorf("want redis://, rediss://, redis-sentinel:// or redis-cluster://")
	}
	switch scheme {
	case "redis", "rediss":
		return parseSingle(raw)
	case "redis-sentinel", "rediss-sentinel":
		return parseMulti(raw, Sentinel, scheme == "rediss-sentinel")
	case "redis-cluster", "rediss-cluster":
		return parseMulti(raw, Cluster, scheme == "rediss-cluster")
	}
	return nil, fmt.Errorf("scheme %q: want redis://, rediss://, redis-sentinel://, rediss-sentinel://, redis-cluster:// or rediss-cluster://", scheme)
}

func parseSingle(raw string) (*Topology, error) {
	o, err := redis.ParseURL(raw)
	if err != nil {
		return nil, fmt.Errorf("%s", redact(err.Error(), raw))
	}
	return &Topology{Mode: Single, Addrs: []string{o.Addr}, Username: o.Username, Password: o.Password,
		DB: o.DB, TLS: o.TLSConfig != nil, single: o}, nil
}

func parseMulti(raw string, mode Mode, useTLS bool) (*Topology, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("not a URL")
	}
	t := &Topology{Mode: mode, TLS: useTLS}
	if u.User != nil {
		t.Username = u.User.Username()
		t.Password, _ = u.User.Password()
	}
	for _, a := range strings.Split(u.Host, ",") {
		host, port, err := net.SplitHostPort(strings.TrimSpace(a))
		if err != nil || host == "" {
			return nil, fmt.Errorf("address %q: want host:port", a)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("address %q: port is not a number in 1-65535", a)
		}
		t.Addrs = append(t.Addrs, net.JoinHostPort(host, port))
	}
	if db := strings.Trim(u.Path, "/"); db != "" {
		if t.DB, err = strconv.Atoi(db); err != nil || t.DB < 0 {
			return nil, fmt.Errorf("database %q is not a number", db)
		}
		if mode == Cluster && t.DB != 0 {
			return nil, fmt.Errorf("a Redis Cluster has only database 0")
		}
	}
	q := u.Query()
	for k := range q {
		switch {
		case mode == Sentinel && (k == "master" || k == "sentinel_password"):
		default:
			return nil, fmt.Errorf("unknown option %q", k)
		}
	}
	if mode == Sentinel {
		if t.MasterName = q.Get("master"); t.MasterName == "" {
			return nil, fmt.Errorf("want ?master=NAME, the name the sentinels monitor the primary under")
		}
		t.SentinelPassword = q.Get("sentinel_password")
	}
	return t, nil
}

// redact removes the password of raw from msg.
func redact(msg, raw string) string {
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		if p, ok := u.User.Password(); ok && p != "" {
			msg = strings.ReplaceAll(msg, p, "xxxxx")
		}
	}
	return msg
}

// String describes the topology without credentials, for logs.
func (t *Topology) String() string {
	s := t.Mode.String() + " " + strings.Join(t.Addrs, ",")
	if t.Mode == Sentinel {
		s += " master=" + t.MasterName
	}
	if t.TLS {
		s += " tls"
	}
	return s
}

func (t *Topology) tlsConfig() *tls.Config {
	if !t.TLS {
		return nil
	}
	if t.single != nil && t.single.TLSConfig != nil {
		return t.single.TLSConfig.Clone()
	}
	host, _, _ := net.SplitHostPort(t.Addrs[0])
	return &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
}

// NewClient returns a go-redis client for the topology; the caller closes
// it.
func (t *Topology) NewClient() redis.UniversalClient {
	switch t.Mode {
	case Sentinel:
		return redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName: t.MasterName, SentinelAddrs: t.Addrs, SentinelPassword: t.SentinelPassword,
			Username: t.Username, Password: t.Password, DB: t.DB, TLSConfig: t.tlsConfig(),
		})
	case Cluster:
		return redis.NewClusterClient(&redis.ClusterOptions{
			Addrs: t.Addrs, Username: t.Username, Password: t.Password, TLSConfig: t.tlsConfig(),
		})
	}
	o := *t.single
	o.TLSConfig = t.tlsConfig()
	return redis.NewClient(&o)
}

// AsynqConn returns the Asynq connection option for the topology (queues,
// inspector, dashboard).
func (t *Topology) AsynqConn() asynq.RedisConnOpt {
	switch t.Mode {
	case Sentinel:
		return asynq.RedisFailoverClientOpt{
			MasterName: t.MasterName, SentinelAddrs: t.Addrs, SentinelPassword: t.SentinelPassword,
			Username: t.Username, Password: t.Password, DB: t.DB, TLSConfig: t.tlsConfig(),
		}
	case Cluster:
		return asynq.RedisClusterClientOpt{
			Addrs: t.Addrs, Username: t.Username, Password: t.Password, TLSConfig: t.tlsConfig(),
		}
	}
	o := t.single
	return asynq.RedisClientOpt{
		Network: o.Network, Addr: o.Addr, Username: o.Username, Password: o.Password, DB: o.DB,
		DialTimeout: o.DialTimeout, ReadTimeout: o.ReadTimeout, WriteTimeout: o.WriteTimeout,
		PoolSize: o.PoolSize, TLSConfig: t.tlsConfig(),
	}
}

// WithDB returns a copy of a Single or Sentinel topology on logical
// database db (tests give each package a database of its own).
func (t *Topology) WithDB(db int) *Topology {
	c := *t
	c.DB = db
	if t.single != nil {
		o := *t.single
		o.DB = db
		c.single = &o
	}
	return &c
}
