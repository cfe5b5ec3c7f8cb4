package staging_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/b2fs/b2fs/fs/fstest"
	"github.com/b2fs/b2fs/fs/staging"
)

// TestConflictChecksBatched: the conflict checks of files uploaded
// together share one listing (ListCurrent), and still find the one name
// another writer changed: both its versions stay, the conflict is
// counted once. A page too short for every name leaves the rest to
// Current.
func TestConflictChecksBatched(t *testing.T) {
	for _, tc := range []struct {
		name string
		page int
	}{{"one page", 1000}, {"short pages", 2}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			st := fstest.NewStore("b1")
			list := func(ctx context.Context, b, prefix, start string, max int) (map[string]string, string, bool, error) {
				return st.ListCurrent(ctx, b, prefix, start, min(max, tc.page))
			}
			m := wbManager(t, st, staging.Options{WriteBackDelay: time.Hour, Transfers: 8, Current: st.Current, ListCurrent: list})
			const n = 6
			for i := 0; i < n; i++ {
				name := fmt.Sprintf("d/f%d", i)
				o := st.Put("b1", name, []byte("old"), nil)
				f, err := m.Open(ctx, staging.OpenOptions{Key: key(name), Base: &staging.Base{FileID: o.FileID, Size: o.Size}, Truncate: true, Write: true})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := f.WriteAt(ctx, []byte("mine"), 0); err != nil {
					t.Fatal(err)
				}
				if err := f.Commit(ctx); err != nil {
					t.Fatal(err)
				}
				m.ReleaseWrite(f)
			}
			st.Put("b1", "d/f3", []byte("theirs"), nil) // another writer
			before := st.AllCalls()
			if err := m.Sync(ctx); err != nil {
				t.Fatal(err)
			}
			calls := st.AllCalls()
			lists, currents := calls["ListCurrent"]-before["ListCurrent"], calls["Current"]-before["Current"]
			if s := m.Stats(); s.Conflicts != 1 {
				t.Fatalf("conflicts %d (want 1)", s.Conflicts)
			}
			if vs := st.Versions("b1", "d/f3"); len(vs) != 3 || string(vs[1]) != "theirs" || string(vs[2]) != "mine" {
				t.Fatalf("versions of d/f3: %q", vs)
			}
			if tc.page >= n && (lists != 1 || currents != 0) {
				t.Fatalf("%d listings and %d lookups for %d files (want one listing)", lists, currents, n)
			}
			if lists+currents > n || lists == 0 {
				t.Fatalf("%d listings and %d lookups for %d files", lists, currents, n)
			}
		})
	}
}
