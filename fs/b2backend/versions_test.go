package b2backend

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/b2fs/b2fs/b2client"
	"github.com/b2fs/b2fs/cache"
	"github.com/b2fs/b2fs/fs/errs"
	"github.com/b2fs/b2fs/fs/versions"
	"github.com/b2fs/b2fs/test/b2emu"
)

// TestViewOverB2Emu runs the versions view over the B2 adapter and the
// emulator: overwrites, hide markers, paging, cost, and a refused listing.
func TestViewOverB2Emu(t *testing.T) {
	ts := b2emu.NewTestServer(t, b2emu.Options{})
	bid, err := ts.CreateBucket("vbucket", "allPrivate")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c, err := b2client.New(ctx, b2client.Config{Endpoint: ts.URL, KeyID: ts.KeyID, Key: ts.Key})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := ts.PutFile("vbucket", "docs/r.txt", []byte(fmt.Sprint("v", i)), nil); err != nil {
			t.Fatal(err)
		}
		ts.AdvanceClock(time.Second)
	}
	for i := 0; i < 25; i++ {
		if _, err := ts.PutFile("vbucket", fmt.Sprintf("docs/old/f%02d", i), []byte("x"), nil); err != nil {
			t.Fatal(err)
		}
	}
	ts.AdvanceClock(time.Second)
	for i := 0; i < 25; i++ {
		if _, err := c.HideFile(ctx, bid, fmt.Sprintf("docs/old/f%02d", i)); err != nil {
			t.Fatal(err)
		}
	}
	cc, err := cache.New(cache.Options{DirTTL: time.Minute, AttrTTL: time.Minute, NegativeTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cc.Close)
	// Pages of 10 versions: the 53 versions under docs/ take 6 pages.
	v, err := versions.New(versions.Options{Lister: New(c, Options{}), Cache: cc, PageSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	ts.ResetStats()
	h, err := v.History(ctx, bid, "", "docs/r.txt")
	if err != nil || len(h) != 3 || !h[2].Current || h[0].Version.Size != 2 {
		t.Fatalf("history %+v %v", h, err)
	}
	old, err := v.History(ctx, bid, "", "docs/old/f07")
	if err != nil || len(old) != 2 || !old[1].Version.Hidden || old[1].Current {
		t.Fatalf("history of a deleted file %+v %v", old, err)
	}
	last, err := v.History(ctx, bid, "", "docs/old/f24")
	if err != nil || len(last) != 2 {
		t.Fatalf("history of f24 %+v %v", last, err)
	}
	es, err := v.At(ctx, bid, "", "docs/old/", last[0].Version.Uploaded)
	if err != nil || len(es) != 25 {
		t.Fatalf("docs/old before the deletions: %d entries, %v", len(es), err)
	}
	s := ts.Stats()
	if s.Calls["b2_list_file_versions"] != 6 || s.Classes["B"] != 0 {
		t.Fatalf("calls %v classes %v, want 6 list calls and no class B", s.Calls, s.Classes)
	}
	// The live state (after the hides) has no docs/old.
	es, err = v.At(ctx, bid, "", "docs/", time.Now().Add(24*time.Hour))
	if err != nil || len(es) != 1 || es[0].Name != "r.txt" {
		t.Fatalf("docs/ now: %+v %v", es, err)
	}
	// A refused listing is a permission error (EACCES at the adapter).
	ts.AddFault(b2emu.FaultRule{API: "b2_list_file_versions", Status: 401, Code: "unauthorized", Times: -1})
	cc.Clear()
	_, err = v.At(ctx, bid, "", "", time.Now())
	if !errors.Is(err, errs.ErrAccess) {
		t.Fatalf("refused listing: %v", err)
	}
}
