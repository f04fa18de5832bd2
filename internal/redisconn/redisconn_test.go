package redisconn_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/turnoutdev/turnout/internal/redisconn"
)

func TestParseReadsEachTopology(t *testing.T) {
	for _, tc := range []struct {
		url  string
		want redisconn.Topology
	}{
		{"redis://127.0.0.1:6379/3", redisconn.Topology{Mode: redisconn.Single, Addrs: []string{"127.0.0.1:6379"}, DB: 3}},
		{"rediss://u:pw@cache:6380", redisconn.Topology{Mode: redisconn.Single, Addrs: []string{"cache:6380"}, Username: "u", Password: "pw", TLS: true}},
		{"redis-sentinel://:pw@s1:26379,s2:26379,s3:26380/2?master=mymaster",
			redisconn.Topology{Mode: redisconn.Sentinel, Addrs: []string{"s1:26379", "s2:26379", "s3:26380"}, MasterName: "mymaster", Password: "pw", DB: 2}},
		{"rediss-sentinel://s1:26379?master=m&sentinel_password=sp",
			redisconn.Topology{Mode: redisconn.Sentinel, Addrs: []string{"s1:26379"}, MasterName: "m", SentinelPassword: "sp", TLS: true}},
		{"redis-cluster://:pw@n1:7000,n2:7001,n3:7002",
			redisconn.Topology{Mode: redisconn.Cluster, Addrs: []string{"n1:7000", "n2:7001", "n3:7002"}, Password: "pw"}},
		{"rediss-cluster://n1:7000/0", redisconn.Topology{Mode: redisconn.Cluster, Addrs: []string{"n1:7000"}, TLS: true}},
	} {
		got, err := redisconn.Parse(tc.url)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.url, err)
			continue
		}
		g := *got
		g = redisconn.Topology{Mode: g.Mode, Addrs: g.Addrs, MasterName: g.MasterName, Username: g.Username,
			Password: g.Password, SentinelPassword: g.SentinelPassword, DB: g.DB, TLS: g.TLS}
		if !reflect.DeepEqual(g, tc.want) {
			t.Errorf("Parse(%q) = %+v, want %+v", tc.url, g, tc.want)
		}
	}
}

func TestParseRejectsWhatCannotWorkWithoutEchoingThePassword(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"memcached://h:1", "scheme"},
		{"127.0.0.1:6379", "want redis://"},
		{"redis-sentinel://:hunter2@s1:26379,s2:26379", "master=NAME"},
		{"redis-sentinel://:hunter2@s1,s2:26379?master=m", `"s1"`},
		{"redis-sentinel://:hunter2@s1:99999?master=m", "port"},
		{"redis-cluster://:hunter2@n1:7000/1", "only database 0"},
		{"redis-cluster://:hunter2@n1:7000?master=m", `unknown option "master"`},
		{"redis-sentinel://:hunter2@s1:26379/x?master=m", "not a number"},
		{"redis://:hunter2@h:6379/x", "database"},
	} {
		_, err := redisconn.Parse(tc.url)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want an error mentioning %q", tc.url, err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Parse(%q): the error repeats the password: %v", tc.url, err)
		}
	}
}

// Every client of a process is built for the same deployment: the go-redis
// client and the Asynq option are of the kind the URL names.
func TestClientsFollowTheTopology(t *testing.T) {
	for _, tc := range []struct {
		url        string
		client     any
		asynqConn  any
		wantMaster string
	}{
		{"redis://127.0.0.1:6379/1", &redis.Client{}, asynq.RedisClientOpt{}, ""},
		{"redis-sentinel://127.0.0.1:26379/1?master=m", &redis.Client{}, asynq.RedisFailoverClientOpt{}, "m"},
		{"redis-cluster://127.0.0.1:7000", &redis.ClusterClient{}, asynq.RedisClusterClientOpt{}, ""},
	} {
		top, err := redisconn.Parse(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		c := top.NewClient()
		if reflect.TypeOf(c) != reflect.TypeOf(tc.client) {
			t.Errorf("%s: NewClient is %T, want %T", tc.url, c, tc.client)
		}
		_ = c.Close()
		conn := top.AsynqConn()
		if reflect.TypeOf(conn) != reflect.TypeOf(tc.asynqConn) {
			t.Errorf("%s: AsynqConn is %T, want %T", tc.url, conn, tc.asynqConn)
		}
		if f, ok := conn.(asynq.RedisFailoverClientOpt); ok && (f.MasterName != tc.wantMaster || f.DB != 1) {
			t.Errorf("%s: failover option %+v", tc.url, f)
		}
		if strings.Contains(top.String(), "pw") {
			t.Errorf("String() shows credentials: %s", top)
		}
	}
}
