package versions

import (
	"context"
	"fmt"
	"math/rand"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/b2fs/b2fs/fs/backend"
)

// modelAt is the tree at t computed the slow, obvious way: for every name
// under prefix, its newest version at or before t, unless a hide marker.
func modelAt(all []backend.Object, prefix string, t time.Time) string {
	newest := map[string]backend.Object{}
	for _, v := range all {
		if !strings.HasPrefix(v.Name, prefix) || v.Uploaded.After(t) {
			continue
		}
		if cur, ok := newest[v.Name]; !ok || v.Uploaded.After(cur.Uploaded) {
			newest[v.Name] = v
		}
	}
	files, dirs := map[string]string{}, map[string]bool{}
	for name, v := range newest {
		if v.Hidden {
			continue
		}
		rest := name[len(prefix):]
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			dirs[rest[:i]] = true
		} else if rest != EmptyMarker {
			files[rest] = v.Info["body"]
		}
	}
	var out []string
	for d := range dirs {
		out = append(out, d+"/")
	}
	for f, body := range files {
		if !dirs[f] {
			out = append(out, f+"="+body)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return strings.TrimSuffix(strings.Split(out[i], "=")[0], "/") < strings.TrimSuffix(strings.Split(out[j], "=")[0], "/")
	})
	return strings.Join(out, " ")
}

// TestAtMatchesModel: random histories (overwrites, deletions, nested
// folders, a file and a folder sharing a name), listed in small pages,
// give the model's tree at every moment, and every version in history.
func TestAtMatchesModel(t *testing.T) {
	pool := []string{"a", "b", "a/x", "a/y", "a/sub/z", "b/q", "c/.bzEmpty", "c/d/e", "f.txt", "f.txt.bak"}
	for seed := int64(1); seed <= 12; seed++ {
		rng := rand.New(rand.NewSource(seed))
		f := &fakeLister{}
		var all []backend.Object
		for i := 0; i < 40; i++ {
			name := pool[rng.Intn(len(pool))]
			at := t0.Add(time.Duration(rng.Intn(1000)) * time.Second)
			hidden := rng.Intn(4) == 0
			body := fmt.Sprint(i)
			f.add(name, body, at, hidden)
			all = append(all, backend.Object{Name: name, Uploaded: at, Hidden: hidden, Info: map[string]string{"body": body}})
		}
		v, _ := newView(t, f, Options{PageSize: 3, TreePages: 100})
		ctx := context.Background()
		for step := 0; step < 20; step++ {
			tt := t0.Add(time.Duration(rng.Intn(1100)-50) * time.Second)
			for _, p := range []string{"", "a/", "a/sub/", "c/", "c/d/", "nothing/"} {
				es, err := v.At(ctx, "b", "", p, tt)
				if err != nil {
					t.Fatal(err)
				}
				if got, want := names(es), modelAt(all, p, tt); got != want {
					t.Fatalf("seed %d, %q at %v:\n got %q\nwant %q", seed, p, tt, got, want)
				}
			}
		}
		for _, name := range pool {
			h, err := v.History(ctx, "b", "", name)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, x := range all {
				if x.Name == name {
					n++
				}
			}
			if len(h) != n {
				t.Fatalf("seed %d: history of %s has %d versions, want %d", seed, name, len(h), n)
			}
			for i := 1; i < len(h); i++ {
				if h[i].Name <= h[i-1].Name || h[i].Version.Uploaded.Before(h[i-1].Version.Uploaded) {
					t.Fatalf("seed %d: history of %s out of order: %q, %q", seed, name, h[i-1].Name, h[i].Name)
				}
			}
		}
	}
}

// FuzzParseTime: ParseTime never panics, and what it accepts is a moment
// that its own RFC 3339 form names again.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2026-12-01", "2026-12-01T10:00", "2026-12-01T10:00:00Z", "2026-12-01T10:00:00.123+01:00", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := ParseTime(s)
		if err != nil {
			return
		}
		back, err := ParseTime(tm.UTC().Format(time.RFC3339Nano))
		if err != nil || !back.Equal(tm) {
			t.Fatalf("%q -> %v -> %v, %v", s, tm, back, err)
		}
	})
}
