package vfs

import (
	"testing"
	"time"

	"github.com/b2fs/b2fs/b2client"
)

// TestObjectModTimeEpoch: an mtime of exactly the epoch (touch -d @0) is a
// time like any other, read the same way as b2client reads it; only a
// missing or malformed value falls back to the upload time.
func TestObjectModTimeEpoch(t *testing.T) {
	up := time.UnixMilli(1_700_000_000_000)
	for v, want := range map[string]time.Time{
		"0":             time.UnixMilli(0),
		"1500000000123": time.UnixMilli(1500000000123),
		"":              up,
		"x":             up,
	} {
		o := Object{Info: map[string]string{"src_last_modified_millis": v}, Uploaded: up}
		if got := o.ModTime(); !got.Equal(want) {
			t.Errorf("ModTime with src_last_modified_millis %q = %v, want %v", v, got, want)
		}
		f := b2client.File{Info: map[string]string{b2client.InfoModTime: v}, UploadTimestamp: up.UnixMilli()}
		if got := f.ModTime(); !got.Equal(want) {
			t.Errorf("b2client ModTime with %q = %v, want %v", v, got, want)
		}
	}
}
