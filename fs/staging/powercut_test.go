package staging_test

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/b2fs/b2fs/fs/fstest"
	"github.com/b2fs/b2fs/fs/staging"
)

// partGate is a Remote whose b2_start_large_file answers only once
// started is closed, and whose part uploads wait until the Manager stops
// (each announces itself on sending first).
type partGate struct {
	*fstest.Store
	answer  chan struct{}
	sending chan struct{}
}

func (r *partGate) StartLargeFile(ctx context.Context, req staging.UploadRequest) (string, error) {
	id, err := r.Store.StartLargeFile(ctx, req)
	select {
	case <-r.answer:
	case <-ctx.Done():
	}
	return id, err
}

func (r *partGate) UploadPart(ctx context.Context, id string, part int, rd io.ReaderAt, size int64, sha1Hex string) (string, error) {
	select {
	case r.sending <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return "", ctx.Err()
}

// TestWriteBackLargeFileIDSurvivesPowerCut: in write-back mode the ID of
// a large file is fsynced in the manifest before any part is sent, so a
// power cut in the middle of the upload leaves no unfinished large file
// in B2 after the next start: a closed file's upload resumes and
// finishes; a file never closed is not uploaded, and its large file is
// cancelled.
func TestWriteBackLargeFileIDSurvivesPowerCut(t *testing.T) {
	for _, closed := range []bool{true, false} {
		t.Run(map[bool]string{true: "closed", false: "never-closed"}[closed], func(t *testing.T) {
			ctx := context.Background()
			root := filepath.Join(t.TempDir(), "s")
			lfs, err := fstest.NewLossyFS(root)
			if err != nil {
				t.Fatal(err)
			}
			st := fstest.NewStore("b1")
			r := &partGate{Store: st, answer: make(chan struct{}), sending: make(chan struct{}, 1)}
			m, err := staging.New(staging.Options{Dir: root, Remote: r, PartSize: 1 << 16, UploadCutoff: 1 << 17, FS: lfs, Logger: quiet,
				WriteBack: true, WriteBackDelay: time.Millisecond, Current: st.Current})
			if err != nil {
				t.Fatal(err)
			}
			data := bytes.Repeat([]byte("0123456789abcdef"), 300<<10/16)
			f, err := m.Open(ctx, staging.OpenOptions{Key: key("big"), Write: true})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt(ctx, data, 0); err != nil {
				t.Fatal(err)
			}
			if closed {
				if err := f.Commit(ctx); err != nil {
					t.Fatal(err)
				}
				m.ReleaseWrite(f)
			}
			close(r.answer) // the large file (started while writing) is named only now
			select {
			case <-r.sending:
			case <-time.After(20 * time.Second):
				t.Fatal("no part upload began")
			}
			if len(st.Unfinished()) != 1 {
				t.Fatalf("unfinished large files before the cut: %v, want one", st.Unfinished())
			}
			m.Abandon()
			lfs2, err := lfs.PowerCut()
			if err != nil {
				t.Fatal(err)
			}
			m2, err := staging.New(staging.Options{Dir: root, Remote: st, PartSize: 1 << 16, UploadCutoff: 1 << 17, FS: lfs2, Logger: quiet,
				WriteBack: true, WriteBackDelay: time.Hour, Current: st.Current})
			if err != nil {
				t.Fatal(err)
			}
			defer m2.Close(ctx)
			if _, err := m2.Recover(ctx, st.Current); err != nil {
				t.Fatal(err)
			}
			if err := m2.Sync(ctx); err != nil {
				t.Fatal(err)
			}
			if u := st.Unfinished(); len(u) != 0 {
				t.Errorf("unfinished large files left in B2 after recovery: %v", u)
			}
			_, got, ok := st.Get("b1", "big")
			switch {
			case closed && (!ok || !bytes.Equal(got, data)):
				t.Errorf("after recovery B2 has big: %v, %d bytes; want the %d bytes closed", ok, len(got), len(data))
			case !closed && ok:
				t.Errorf("a file never closed reached B2 (%d bytes)", len(got))
			}
		})
	}
}
