package fileload

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"
)

// A phones load on a database of more people than the phones direct path
// may hold in memory is loaded through the staging table.
func TestPhonesDirectPathOnlyForDatabasesThatFitInMemory(t *testing.T) {
	pool := testenvStore(t).Pool
	ctx := t.Context()
	var was float64
	if err := pool.QueryRow(ctx, `SELECT reltuples FROM pg_class WHERE oid = 'van_people'::regclass`).Scan(&was); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = pool.Exec(context.Background(), `UPDATE pg_class SET reltuples = $1 WHERE oid = 'van_people'::regclass`, was)
	})
	for _, c := range []struct {
		people float64
		fit    bool
	}{{1e6, true}, {maxDirectPeople, true}, {maxDirectPeople + 1, false}, {5e7, false}} {
		if _, err := pool.Exec(ctx, `UPDATE pg_class SET reltuples = $1 WHERE oid = 'van_people'::regclass`, c.people); err != nil {
			t.Fatal(err)
		}
		if fit, err := peopleFitInMemory(ctx, pool); err != nil || fit != c.fit {
			t.Errorf("%.0f people: fit %v (%v), want %v", c.people, fit, err, c.fit)
		}
	}
}

// The bucket table finds exactly what a binary search finds, for dense,
// sparse, clustered and tiny id sets, ids outside the range included.
func TestPersonIndexBucketsAgreeWithBinarySearch(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	sets := map[string][]int64{"one": {42}, "two far apart": {3, 1 << 40}}
	dense, sparse, clustered := []int64{}, []int64{}, []int64{}
	for i := int64(1); i <= 5000; i++ {
		dense = append(dense, i)
		sparse = append(sparse, i*97+rng.Int64N(50))
		clustered = append(clustered, i+int64(i/1000)*1_000_000_000)
	}
	sets["dense"], sets["sparse"], sets["clustered"] = dense, sparse, clustered
	for name, keys := range sets {
		slices.Sort(keys)
		keys = slices.Compact(keys)
		x := &personIndex{keys: keys}
		x.build()
		plain := &personIndex{keys: keys}
		probes := append([]int64{0, 1, -5, keys[0], keys[len(keys)-1], keys[len(keys)-1] + 1, 1 << 62}, keys...)
		for range 2000 {
			probes = append(probes, rng.Int64N(keys[len(keys)-1]+10))
		}
		for _, id := range probes {
			p1, v1, ok1 := x.lookup(id)
			p2, v2, ok2 := plain.lookup(id)
			if p1 != p2 || v1 != v2 || ok1 != ok2 {
				t.Fatalf("%s: lookup(%d) = %d %d %v with buckets, %d %d %v without", name, id, p1, v1, ok1, p2, v2, ok2)
			}
		}
		if len(x.starts) > len(keys)/2+2 {
			t.Errorf("%s: %d buckets for %d people, want at most about one per two", name, len(x.starts), len(keys))
		}
	}
}
