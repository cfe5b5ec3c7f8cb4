package staging

import (
	"encoding/json"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestRangeSetAddMerge(t *testing.T) {
	tests := []struct {
		name string
		adds [][2]int64
		want []span
	}{
		{"empty", nil, nil},
		{"one", [][2]int64{{0, 10}}, []span{{0, 10}}},
		{"disjoint sorted", [][2]int64{{20, 30}, {0, 10}}, []span{{0, 10}, {20, 30}}},
		{"adjacent merge", [][2]int64{{0, 10}, {10, 20}}, []span{{0, 20}}},
		{"overlap merge", [][2]int64{{0, 10}, {5, 15}}, []span{{0, 15}}},
		{"bridge", [][2]int64{{0, 5}, {10, 15}, {4, 11}}, []span{{0, 15}}},
		{"contained", [][2]int64{{0, 50}, {10, 20}}, []span{{0, 50}}},
		{"swallow many", [][2]int64{{1, 2}, {3, 4}, {5, 6}, {0, 10}}, []span{{0, 10}}},
		{"empty add ignored", [][2]int64{{5, 5}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r rangeSet
			for _, a := range tc.adds {
				r.add(a[0], a[1])
			}
			if got := r.spans(); !reflect.DeepEqual(got, tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
				t.Fatalf("got %v want %v", got, tc.want)
			}
		})
	}
}

func TestRangeSetGapsCoversClip(t *testing.T) {
	var r rangeSet
	r.add(10, 20)
	r.add(30, 40)
	if g := r.gaps(0, 50); !reflect.DeepEqual(g, []span{{0, 10}, {20, 30}, {40, 50}}) {
		t.Fatalf("gaps %v", g)
	}
	if g := r.gaps(12, 35); !reflect.DeepEqual(g, []span{{20, 30}}) {
		t.Fatalf("gaps %v", g)
	}
	if !r.covers(10, 20) || r.covers(10, 21) || !r.covers(35, 35) || r.covers(0, 1) {
		t.Fatal("covers wrong")
	}
	if !r.intersects(19, 25) || r.intersects(20, 30) {
		t.Fatal("intersects wrong")
	}
	r.clip(35)
	if !reflect.DeepEqual(r.spans(), []span{{10, 20}, {30, 35}}) {
		t.Fatalf("clip %v", r.spans())
	}
	r.clip(5)
	if len(r.spans()) != 0 {
		t.Fatalf("clip all %v", r.spans())
	}
}

// TestRangeSetRandom compares the set with a bitmap model.
func TestRangeSetRandom(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	const n = 200
	for iter := 0; iter < 200; iter++ {
		var r rangeSet
		var model [n]bool
		for k := 0; k < 20; k++ {
			a := rng.Int63n(n)
			b := a + rng.Int63n(n-a+1)
			if rng.Intn(5) == 0 {
				r.clip(a)
				for i := a; i < n; i++ {
					model[i] = false
				}
				continue
			}
			r.add(a, b)
			for i := a; i < b; i++ {
				model[i] = true
			}
		}
		for i := int64(0); i < n; i++ {
			if r.covers(i, i+1) != model[i] {
				t.Fatalf("iter %d byte %d: covers=%v model=%v set=%v", iter, i, r.covers(i, i+1), model[i], r.spans())
			}
		}
		// gaps of the whole range are exactly the model's false runs
		var total int64
		for _, g := range r.gaps(0, n) {
			for i := g.Off; i < g.End; i++ {
				if model[i] {
					t.Fatalf("gap covers set byte %d", i)
				}
			}
			total += g.End - g.Off
		}
		var want int64
		for _, v := range model {
			if !v {
				want++
			}
		}
		if total != want {
			t.Fatalf("gap total %d want %d", total, want)
		}
		// invariant: sorted, disjoint, non-adjacent
		s := r.spans()
		for i := 1; i < len(s); i++ {
			if s[i].Off <= s[i-1].End {
				t.Fatalf("not normalised: %v", s)
			}
		}
	}
}

// TestManifestInPlace: a manifest rewritten shorter in place reads back
// as the new document, also when the truncate after the write is missing
// (a b2fs killed between the two calls).
func TestManifestInPlace(t *testing.T) {
	p := filepath.Join(t.TempDir(), "m.json")
	fd, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	long := &Manifest{Version: 1, ID: "x", Name: strings.Repeat("long-name/", 20), State: StateDirty, Size: 123456}
	short := &Manifest{Version: 1, ID: "x", Name: "n", State: StateFailed, Size: 7}
	if err := putManifest(fd, long, false); err != nil {
		t.Fatal(err)
	}
	if err := putManifest(fd, short, false); err != nil {
		t.Fatal(err)
	}
	if m, err := ReadManifest(p); err != nil || m.Name != "n" || m.State != StateFailed || m.Size != 7 {
		t.Fatalf("after rewrite: %+v %v", m, err)
	}
	// Killed between the write and the truncate: old bytes follow.
	b, _ := json.Marshal(long)
	os.WriteFile(p, b, 0o600)
	sb, _ := json.Marshal(short)
	f2, _ := os.OpenFile(p, os.O_RDWR, 0)
	f2.WriteAt(append(sb, '\n'), 0)
	f2.Close()
	if m, err := ReadManifest(p); err != nil || m.Name != "n" {
		t.Fatalf("with trailing bytes: %+v %v", m, err)
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode().Perm())
	}
}
