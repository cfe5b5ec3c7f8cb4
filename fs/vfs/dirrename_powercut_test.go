package vfs

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/b2fs/b2fs/fs/fstest"
)

// TestWriteBackDirRenamePowerCutAfterCopy: a directory rename in
// write-back mode cut by a power cut after its server-side copies, before
// the removal of a source, is finished at the next start: B2 shows the
// state after the rename (the file that was in B2, the pending file and
// the pending subdirectory under the new name, with the directory's
// pending mode), nothing under the old name.
func TestWriteBackDirRenamePowerCutAfterCopy(t *testing.T) {
	ctx := context.Background()
	st := newStore()
	dir := filepath.Join(t.TempDir(), "staging")
	lfs, err := fstest.NewLossyFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	g := &removeGate{Store: st, name: "d/resident", removal: make(chan struct{}, 1)}
	m := newLossyMountWith(t, st, g, dir, lfs, time.Hour, nil)
	root := m.fsys.Root().(*Dir)
	d, err := root.Mkdir(ctx, "d", 0o755)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, d, "resident", "R")
	if err := m.fsys.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	// Pending: the directory's new mode (its marker, based on the one in
	// B2), a new file and a new subdirectory with a file.
	mode := uint32(0o700)
	if _, err := d.Setattr(ctx, &SetAttr{Mode: &mode}); err != nil {
		t.Fatal(err)
	}
	writeFile(t, d, "pending", "P")
	sub, err := d.Mkdir(ctx, "sub", 0o711)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, sub, "f", "F")
	if n := len(m.sm.Pending()); n != 4 {
		t.Fatalf("%d pending files before the rename, want 4: %v", n, m.sm.Pending())
	}

	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- root.Rename(rctx, "d", root, "e", 0) }()
	select {
	case <-g.removal:
	case <-time.After(20 * time.Second):
		t.Fatal("the rename did not reach the removal of d/resident")
	}
	// Copied, a source not yet removed: the process dies, the power goes.
	m.sm.Abandon()
	lfs2, err := lfs.PowerCut()
	if err != nil {
		t.Fatal(err)
	}
	stop()
	<-done
	m.fsys.Shutdown(ctx)

	m2 := newLossyMount(t, st, dir, lfs2, time.Hour)
	defer m2.fsys.Shutdown(ctx)
	defer m2.sm.Close(ctx)
	if _, err := m2.sm.Recover(ctx, st.Current); err != nil {
		t.Fatal(err)
	}
	if err := m2.sm.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	got := b2State(t, st)
	want := map[string]string{"e/resident": "R", "e/pending": "P", "e/sub/f": "F"}
	for name, data := range want {
		if got[name].data != data {
			t.Errorf("%s in B2 after recovery: %v, want %q", name, got[name], data)
		}
	}
	if len(got) != len(want) {
		t.Errorf("B2 after recovery:\n%s\nwant only %v", dump(got), want)
	}
	if dirs := b2Dirs(t, st); !equalModes(dirs, map[string]uint32{"e": 0o700}) {
		t.Errorf("directories in B2 after recovery: %v, want e (mode 700) only", dirs)
	}
	for _, name := range st.Names("b1") {
		if strings.HasPrefix(name, "d/") {
			t.Errorf("B2 still shows %s", name)
		}
	}
	if !st.Has("b1", "e/sub/.bzEmpty") {
		t.Errorf("the pending subdirectory's marker is not in B2: %v", st.Names("b1"))
	}
	if c := m2.sm.Stats().Conflicts; c != 0 {
		t.Errorf("%d conflicts at recovery (the re-keyed files must be based on the copies)", c)
	}
}
