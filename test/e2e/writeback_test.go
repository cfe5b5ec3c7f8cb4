package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/b2fs/b2fs/test/b2emu"
)

// TestWriteBackSmoke mounts with --write-back over an emulator that
// answers every call after 300ms: closing 20 new files takes far less
// than the 20 upload round trips the default mode waits for; renaming and
// removing files that are still pending costs no B2 call; everything
// reaches B2 under its final name after the delay.
func TestWriteBackSmoke(t *testing.T) {
	const latency = 300 * time.Millisecond
	ts := newServer(t, b2emu.Options{AbsoluteMinimumPartSize: wPart, RecommendedPartSize: wPart, Latency: latency}, "wbucket")
	w := mountWrite(t, ts, "wbucket", "--write-back=1s", "--transfers", "8")
	// A listing of the directory answers the lookups of the new names
	// (as in a directory cp -r creates).
	if _, err := os.ReadDir(w.m.Dir); err != nil {
		t.Fatal(err)
	}
	before := ts.Stats().Calls

	start := time.Now()
	for i := 0; i < 20; i++ {
		if err := os.WriteFile(filepath.Join(w.m.Dir, fmt.Sprintf("f%02d", i)), []byte(fmt.Sprintf("file %d", i)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	took := time.Since(start)
	// Without write-back each close waits for at least one upload call.
	if took > 20*latency/2 {
		t.Fatalf("closing 20 files took %v with write-back (one upload round trip is %v)", took, latency)
	}
	// rsync's pattern and a temporary file, while everything is pending.
	tmp := filepath.Join(w.m.Dir, ".f00.Xy12Ab")
	if err := os.WriteFile(tmp, []byte("renamed"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(w.m.Dir, "final")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(w.m.Dir, "f19")); err != nil {
		t.Fatal(err)
	}
	after := ts.Stats().Calls
	for _, api := range []string{"b2_copy_file", "b2_hide_file", "b2_delete_file_version", "b2_upload_file"} {
		if after[api] != before[api] {
			t.Errorf("%s: %d calls while files were pending (calls %v)", api, after[api]-before[api], after)
		}
	}
	// The uploads follow on their own.
	deadline := time.Now().Add(60 * time.Second)
	for ts.Stats().Calls["b2_upload_file"]-before["b2_upload_file"] < 20 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	for i := 0; i < 19; i++ {
		w.wantRemote(t, fmt.Sprintf("f%02d", i), []byte(fmt.Sprintf("file %d", i)))
	}
	w.wantRemote(t, "final", []byte("renamed"))
	w.wantGone(t, "f19")
	w.wantGone(t, ".f00.Xy12Ab")
	s := ts.Stats().Calls
	if n := s["b2_upload_file"] - before["b2_upload_file"]; n != 20 {
		t.Fatalf("%d uploads, want 20 (19 files and the renamed one)", n)
	}
	for _, api := range []string{"b2_copy_file", "b2_hide_file", "b2_delete_file_version"} {
		if s[api] != before[api] {
			t.Errorf("%s: %d calls (calls %v)", api, s[api]-before[api], s)
		}
	}
	t.Logf("closing 20 files took %v (B2 round trip %v)", took, latency)
}
