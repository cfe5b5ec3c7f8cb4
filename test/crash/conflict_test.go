package crash

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/b2fs/b2fs/test/testenv"
)

// rcloneUpload stores body under name with rclone (its own B2 client)
// pointed at b2emu, with an empty config and the key in the environment.
func (e *env) rcloneUpload(name string, body []byte) {
	e.t.Helper()
	testenv.RequireTool(e.t, "rclone")
	dir := e.t.TempDir()
	src := filepath.Join(dir, "theirs")
	os.WriteFile(src, body, 0o600)
	conf := filepath.Join(dir, "rclone.conf")
	os.WriteFile(conf, nil, 0o600)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "rclone", "copyto", src, ":b2:"+bucket+"/"+name)
	cmd.Env = append(os.Environ(), "RCLONE_CONFIG="+conf, "RCLONE_B2_ACCOUNT="+e.ts.KeyID,
		"RCLONE_B2_KEY="+e.ts.Key, "RCLONE_B2_ENDPOINT="+e.ts.URL)
	if out, err := cmd.CombinedOutput(); err != nil {
		e.t.Fatalf("rclone copyto: %v\n%s", err, out)
	}
}

// versionsOf returns the SHA-1s of name's stored uploads, newest first,
// and their file ids.
func (e *env) versionsOf(name string) (shas, ids []string) {
	e.t.Helper()
	for _, f := range e.versions() {
		if f.Name == name && f.Action == "upload" {
			shas = append(shas, e.versionSHA1(f))
			ids = append(ids, f.ID)
		}
	}
	return shas, ids
}

// TestWriteBackConflict: another client (rclone) overwrites names while
// b2fs holds changes to them pending in write-back mode: an overwrite of
// an existing file, a new file, and a file whose pending change survives a
// kill -9 while the other client writes. After syncing, B2 has both
// versions of each name (b2fs's newest), b2fs deleted and hid nothing of
// the other client's, and it logged the conflicts.
func TestWriteBackConflict(t *testing.T) {
	e := newEnv(t, mode{"writeback", []string{"--write-back=30s"}})
	base := []byte("base version\n")
	for _, n := range []string{"old.txt", "crashed.txt"} {
		if _, err := e.ts.PutFile(bucket, n, base, nil); err != nil {
			t.Fatal(err)
		}
	}
	p1 := e.start(e.dir, e.cache)
	mine := map[string][]byte{"old.txt": []byte("mine: overwrite\n"), "new.txt": []byte("mine: new file\n"), "crashed.txt": []byte("mine: crash\n")}
	theirs := map[string][]byte{"old.txt": []byte("theirs: overwrite\n"), "new.txt": []byte("theirs: new file\n"), "crashed.txt": []byte("theirs: crash\n")}
	for n, b := range mine {
		if err := os.WriteFile(filepath.Join(e.dir, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The delay (30s) keeps all three pending while rclone writes.
	if s := e.ts.Stats().Calls["b2_upload_file"]; s != 0 {
		t.Fatalf("%d uploads before the delay ran out", s)
	}
	e.rcloneUpload("old.txt", theirs["old.txt"])
	e.rcloneUpload("new.txt", theirs["new.txt"])

	// crashed.txt: b2fs dies with the change pending; rclone writes while
	// it is down; the next start must still upload it, next to theirs.
	p1.kill()
	e.rcloneUpload("crashed.txt", theirs["crashed.txt"])
	theirIDs := map[string]string{}
	for n := range theirs {
		_, ids := e.versionsOf(n)
		if len(ids) == 0 {
			t.Fatalf("rclone's %s is not in B2", n)
		}
		theirIDs[n] = ids[0]
	}
	p2 := e.start(e.dir, e.cache)
	e.settle(p2)
	p2.stop() // drains what is left
	log := p1.output()
	for n := range mine {
		shas, ids := e.versionsOf(n)
		if len(shas) < 2 || shas[0] != sha1Hex(mine[n]) {
			t.Errorf("%s: B2 versions (newest first) %v, want b2fs's %.12s newest", n, shas, sha1Hex(mine[n]))
		}
		found := false
		for i, id := range ids {
			found = found || (id == theirIDs[n] && shas[i] == sha1Hex(theirs[n]))
		}
		if !found {
			t.Errorf("%s: rclone's version %s is gone from B2 (versions %v)", n, theirIDs[n], ids)
		}
	}
	if s := e.ts.Stats().Calls; s["b2_delete_file_version"] != 0 || s["b2_hide_file"] != 0 {
		t.Errorf("b2fs deleted or hid versions: %v", s)
	}
	t.Logf("conflicts logged: %d", strings.Count(log, "conflict:"))
	if n := strings.Count(log, "conflict:"); n < 3 {
		t.Errorf("%d conflicts logged, want 3 (old.txt, new.txt, crashed.txt):\n%s", n, testenv.Tail(log, 40))
	}
	// A fresh mount shows b2fs's versions, the newest.
	dir3 := filepath.Join(t.TempDir(), "mnt")
	os.Mkdir(dir3, 0o755)
	p3 := e.start(dir3, filepath.Join(t.TempDir(), "cache"))
	for n, b := range mine {
		if got, err := os.ReadFile(filepath.Join(dir3, n)); err != nil || string(got) != string(b) {
			t.Errorf("fresh mount: %s = %q, %v; want %q", n, got, err, b)
		}
	}
	p3.stop()
}
