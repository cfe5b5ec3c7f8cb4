package vfs

import (
	"errors"
	"strings"
	"testing"

	"github.com/b2fs/b2fs/cache"
	"github.com/b2fs/b2fs/fs/errs"
)

func TestCheckNewName(t *testing.T) {
	tests := []struct {
		prefix, name string
		want         error
	}{
		{"", "ok.txt", nil},
		{"a/b/", "ünïcødé + spaces.txt", nil},
		{"", strings.Repeat("n", 250), nil},
		{"", strings.Repeat("n", 251), errs.ErrNameTooLong},
		{strings.Repeat("d/", 600), "x", errs.ErrNameTooLong},
		{strings.Repeat("d/", 400), "x", nil},
		// Encoded the way rclone does, so accepted; the limits count
		// the encoded bytes (a tab becomes the 3-byte U+2409).
		{"", "back\\slash", nil},
		{"", "ctl\x01", nil},
		{"", "tab\there", nil},
		{"", "del\x7f", nil},
		{"", "bad\xff\xfeutf8", nil},
		{"", strings.Repeat("\t", 83), nil},
		{"", strings.Repeat("\t", 84), errs.ErrNameTooLong},
		{"", strings.Repeat("\xff", 50), nil},
		{"", strings.Repeat("\xff", 51), errs.ErrNameTooLong},
		{"", "nul\x00", errs.ErrInvalid},
		{"", "a/b", errs.ErrInvalid},
		{"", "", errs.ErrInvalid},
		{"", "..", errs.ErrInvalid},
	}
	for _, tc := range tests {
		if got := checkNewName(tc.prefix, tc.name); !errors.Is(got, tc.want) || (got == nil) != (tc.want == nil) {
			t.Errorf("checkNewName(%q, %q) = %v, want %v", tc.prefix, tc.name, got, tc.want)
		}
	}
}

// TestChangedPatchesListing: a change updates a cached listing in place
// (no list call needed afterwards) and records the entry or its absence.
func TestChangedPatchesListing(t *testing.T) {
	c, err := cache.New(cache.Options{DirTTL: 60e9, AttrTTL: 60e9, NegativeTTL: 60e9})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	f, err := New(Options{Backend: newMemBackend(), Cache: c})
	if err != nil {
		t.Fatal(err)
	}
	b := Bucket{ID: "b1", Name: "alpha"}
	key := dirKey(b, "d/")
	c.PutListing(key, []cache.Entry{{Name: "a"}, {Name: "c"}})
	f.changed(b, "d/", "b", &cache.Entry{Name: "b", Size: 3})
	f.changed(b, "d/", "a", nil)
	l, ok := c.Listing(key)
	if !ok || len(l) != 2 || l[0].Name != "b" || l[0].Size != 3 || l[1].Name != "c" {
		t.Fatalf("listing after changes: %v %v", l, ok)
	}
	if _, r := c.Lookup(key, "a"); r != cache.NotFound {
		t.Fatalf("removed name: %v", r)
	}
	// Without a cached listing only the entry is recorded.
	f.changed(b, "e/", "x", &cache.Entry{Name: "x"})
	if _, ok := c.Listing(dirKey(b, "e/")); ok {
		t.Fatal("changed invented a listing")
	}
	if e, r := c.Lookup(dirKey(b, "e/"), "x"); r != cache.Found || e.Name != "x" {
		t.Fatalf("entry: %v %v", e, r)
	}
}
