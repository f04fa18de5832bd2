package fileload

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// Rows copied before the person ids are read are matched once they are:
// those of nobody are to be removed, a person listed again keeps the last
// value, and the counters end as if every row had waited.
func TestRowsCopiedBeforeTheIdsAreMatchedAfter(t *testing.T) {
	v := func(s string) *string { return &s }
	rows := []stagedRow{
		{id: 1, value: v("10")}, {id: 99, value: v("5")}, {id: 2, value: nil}, {id: 1, value: v("12")}, // before the ids
		{id: 3, value: v("30")}, {id: 98, value: v("1")}, {id: 2, value: v("20")}, {id: 3, value: v("31")}, // after
	}
	for split := 0; split <= len(rows); split++ {
		t.Run(fmt.Sprintf("ids read after %d rows", split), func(t *testing.T) {
			late := &lateIndex{done: make(chan struct{}), x: &personIndex{keys: []int64{1, 2, 3, 4}}}
			d := &directScore{late: late, dups: map[int64]*string{}, hist: map[string]int64{}}
			var copied []string
			for i, r := range rows {
				if i == split {
					close(late.done)
				}
				row, err := d.take(r)
				if err != nil {
					t.Fatal(err)
				}
				if row != nil {
					copied = append(copied, fmt.Sprint(*row[1].(*int64)))
				}
			}
			if split == len(rows) {
				close(late.done)
			}
			if d.people == nil {
				if err := d.adopt(); err != nil {
					t.Fatal(err)
				}
			}
			if n := distinctIDs(&d.unmatched); d.matched != 3 || d.nonNull != 2 || n != 2 || d.unmatched.n != 2 {
				t.Errorf("matched %d, with a value %d, unmatched %d (%d different); want 3, 2, 2 (2)", d.matched, d.nonNull, d.unmatched.n, n)
			}
			if len(d.dups) != 3 || *d.dups[1] != "12" || *d.dups[2] != "20" || *d.dups[3] != "31" {
				t.Errorf("last values of people listed twice: %v", d.dups)
			}
			// What was copied and must go: the unmatched rows copied early.
			wantRemove := []int64{}
			for _, r := range rows[:split] {
				if r.id > 4 {
					wantRemove = append(wantRemove, r.id)
				}
			}
			if !slices.Equal(append([]int64{}, d.remove...), wantRemove) {
				t.Errorf("to remove %v, want %v (copied %v)", d.remove, wantRemove, copied)
			}
		})
	}
}

// Ids spread over many pieces, repeated within and across them, are
// counted once each.
func TestDistinctIDsAcrossPieces(t *testing.T) {
	var c chunks[int64]
	want := map[int64]bool{}
	for i := 0; i < 3*chunkLen+17; i++ {
		v := int64((i * 7919) % 100003)
		c.add(v)
		want[v] = true
	}
	if got := distinctIDs(&c); got != int64(len(want)) {
		t.Errorf("distinct ids %d, want %d", got, len(want))
	}
	var empty chunks[int64]
	if got := distinctIDs(&empty); got != 0 {
		t.Errorf("distinct ids of nothing: %d", got)
	}
}

// A database of more people than the direct paths may hold in memory is
// loaded through the staging table.
func TestDirectPathsOnlyForDatabasesThatFitInMemory(t *testing.T) {
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
