package vfs

import (
	"context"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/b2fs/b2fs/fs/fstest"
	"github.com/b2fs/b2fs/fs/staging"
)

// TestFsyncThroughEarlierReader: fsync(2) through any descriptor of a
// file makes the file durable (docs/semantics.md "Durability"), also
// through a read-only one opened before the file was written: B2 has the
// content the writer wrote and the mtime its handles show.
func TestFsyncThroughEarlierReader(t *testing.T) {
	for _, mode := range []string{"default", "write-back"} {
		t.Run(mode, func(t *testing.T) {
			ctx := context.Background()
			var fsys *FS
			var st *fstest.Store
			if mode == "default" {
				fsys, st = storeFS(t)
			} else {
				st = fstest.NewStore()
				st.AddBucket("b1", "alpha")
				fsys, _ = wbFS(t, st, "", time.Hour) // nothing uploads on its own
			}
			root := fsys.Root().(*Dir)
			f := writeFile(t, root, "f", "ab")
			if err := f.Fsync(ctx); err != nil { // uploaded (write-back)
				t.Fatal(err)
			}
			r, err := f.Open(ctx, syscall.O_RDONLY)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Release(ctx)
			if _, ok := r.(*readHandle); !ok {
				t.Fatalf("a read-only open of an uploaded file gave a %T, want a *readHandle", r)
			}
			w, err := f.Open(ctx, syscall.O_RDWR|syscall.O_TRUNC)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Release(ctx)
			// Apart in time, so that the times of the truncation and
			// of the write differ.
			time.Sleep(3 * time.Millisecond)
			if _, err := w.Write(ctx, []byte("hello world"), 0); err != nil {
				t.Fatal(err)
			}
			if err := r.Fsync(ctx); err != nil {
				t.Fatal(err)
			}
			want := f.Attr(ctx, w).Mtime
			o, data, ok := st.Get("b1", "f")
			if !ok || string(data) != "hello world" {
				t.Fatalf("after fsync through the reader, B2 has %q (found %v); want %q", data, ok, "hello world")
			}
			if got := o.Info[staging.InfoMtime]; got != strconv.FormatInt(want.UnixMilli(), 10) {
				t.Errorf("after fsync through the reader, B2 has mtime %s ms; the handles show %s (%d ms)", got, want.Format(time.RFC3339Nano), want.UnixMilli())
			}
			if err := w.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}
