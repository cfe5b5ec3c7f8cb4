package staging_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/b2fs/b2fs/fs/fstest"
	"github.com/b2fs/b2fs/fs/staging"
)

// TestDirRenameRecordReplayed: a directory rename record left by a
// process that died in the middle of the rename (one object copied and
// its source removed, the other not yet copied, no staged file moved) is
// finished by Recover: both objects are under the new prefix only; the
// staged files the record lists take the new name (also one written again
// after the record, whose manifest is newer), based on what the new name
// shows (no conflict); a file made at the old name after the record
// stays there; the pending marker of the replaced target and an older
// manifest under the old name that the record does not list go.
func TestDirRenameRecordReplayed(t *testing.T) {
	ctx := context.Background()
	st := fstest.NewStore("b1")
	m1 := wbManager(t, st, staging.Options{WriteBackDelay: time.Hour, Current: st.Current})
	om := st.Put("b1", "q/m", []byte("old m"), nil)
	ox := st.Put("b1", "q/x", []byte("X"), nil)
	stage(t, m1, "r/.bzEmpty", nil) // the target's pending marker
	// q/m rewritten (based on its version in B2), q/new created: pending.
	f, err := m1.Open(ctx, staging.OpenOptions{Key: key("q/m"), Base: &staging.Base{FileID: om.FileID, Size: om.Size}, Truncate: true, Write: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(ctx, []byte("M2"), 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	m1.ReleaseWrite(f)
	nf := stage(t, m1, "q/new", []byte("N"))
	// q/stale: a manifest a power cut brought back, of a file whose
	// content is in B2 (uploaded and let go before the rename): the
	// record does not list it.
	ost := st.Put("b1", "q/stale", []byte("S"), nil)
	stage(t, m1, "q/stale", []byte("S"))
	var listed []*staging.File
	for _, f := range m1.Under("b1", "q/", false) {
		if f.Key().Name != "q/stale" {
			listed = append(listed, f)
		}
	}

	in, err := m1.BeginDirRename(staging.DirRenameIntent{BucketID: "b1", BucketName: "b1", From: "q/", To: "r/",
		Objects: []staging.RenamedObject{{Name: "q/m", FileID: om.FileID}, {Name: "q/x", FileID: ox.FileID}, {Name: "q/stale", FileID: ost.FileID}}},
		listed)
	if err != nil || in == nil {
		t.Fatalf("record: %v %v", in, err)
	}
	// The rename moved q/x in B2, then the process died.
	if _, err := st.CopyFileReplaceInfo(ctx, ox.FileID, ox.Size, staging.UploadRequest{BucketID: "b1", Name: "r/x"}); err != nil {
		t.Fatal(err)
	}
	if err := st.RemoveName(ctx, "b1", "b1", "q/x", false); err != nil {
		t.Fatal(err)
	}
	// Meanwhile: q/new written again, q/later created.
	if _, err := nf.WriteAt(ctx, []byte("N2"), 0); err != nil {
		t.Fatal(err)
	}
	if err := nf.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	stage(t, m1, "q/later", []byte("L"))
	m1.Abandon()

	m2, err := staging.New(staging.Options{Dir: filepath.Dir(m1.Dir()), Remote: st, PartSize: 1 << 16, UploadCutoff: 1 << 17,
		WriteBack: true, WriteBackDelay: time.Hour, Logger: quiet, Current: st.Current})
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
	want := map[string]string{"r/m": "M2", "r/x": "X", "r/new": "N2", "q/later": "L", "r/stale": "S"}
	for name, data := range want {
		if _, got, ok := st.Get("b1", name); !ok || string(got) != data {
			t.Errorf("%s in B2: %q (%v), want %q", name, got, ok, data)
		}
	}
	if names := st.Names("b1"); strings.Join(names, ",") != "q/later,r/m,r/new,r/stale,r/x" {
		t.Errorf("names in B2: %v", names)
	}
	if s := m2.Stats(); s.Conflicts != 0 {
		t.Errorf("%d conflicts at recovery", s.Conflicts)
	}
	// Nothing is left to replay: a second start finds no record.
	m2.Abandon()
	calls := st.AllCalls()
	m3, err := staging.New(staging.Options{Dir: filepath.Dir(m1.Dir()), Remote: st, PartSize: 1 << 16, UploadCutoff: 1 << 17,
		WriteBack: true, WriteBackDelay: time.Hour, Logger: quiet, Current: st.Current})
	if err != nil {
		t.Fatal(err)
	}
	defer m3.Close(ctx)
	res, err := m3.Recover(ctx, st.Current)
	if err != nil || len(res) != 0 {
		t.Fatalf("second recovery: %v %v", res, err)
	}
	after := st.AllCalls()
	for _, api := range []string{"CopyFileReplaceInfo", "RemoveName", "UploadFile"} {
		if after[api] != calls[api] {
			t.Errorf("second recovery called %s %d times", api, after[api]-calls[api])
		}
	}
}
