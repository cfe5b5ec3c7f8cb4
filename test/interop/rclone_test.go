// Package interop checks b2emu against a real B2 client that b2fs does not
// share code with: Debian's rclone, pointed at the emulator with
// --b2-endpoint. rclone speaks v1 of the Native API for everything but
// authorize, uploads large files in parts, copies server side and stores
// modification times in src_last_modified_millis, so it exercises a wide
// part of the emulator the way a third party would.
package interop

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/b2fs/b2fs/test/b2emu"
	"github.com/b2fs/b2fs/test/testenv"
)

// rcloneEnv runs rclone against one emulator. Credentials travel in the
// environment, never on the command line.
type rcloneEnv struct {
	t   *testing.T
	ts  *b2emu.TestServer
	env []string
}

// partSize is rclone's smallest chunk size (5 MiB); the emulator's minimum
// part size stays at B2's 5,000,000 bytes, below it.
const partSize = 5 << 20

func newRclone(t *testing.T) *rcloneEnv {
	t.Helper()
	testenv.RequireTool(t, "rclone")
	ts := b2emu.NewTestServer(t, b2emu.Options{})
	cfg := filepath.Join(t.TempDir(), "rclone.conf")
	if err := os.WriteFile(cfg, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(),
		"RCLONE_CONFIG="+cfg,
		"RCLONE_B2_ACCOUNT="+ts.KeyID,
		"RCLONE_B2_KEY="+ts.Key,
		"RCLONE_B2_ENDPOINT="+ts.URL,
		// Exercise the large-file and multipart-copy paths with small files.
		"RCLONE_B2_UPLOAD_CUTOFF=5Mi",
		"RCLONE_B2_CHUNK_SIZE=5Mi",
		"RCLONE_B2_COPY_CUTOFF=5Mi",
		"RCLONE_LOW_LEVEL_RETRIES=2",
		"RCLONE_RETRIES=1",
	)
	return &rcloneEnv{t: t, ts: ts, env: env}
}

// run executes rclone and fails the test on a non-zero exit.
func (r *rcloneEnv) run(args ...string) string {
	r.t.Helper()
	out, err := r.try(args...)
	if err != nil {
		r.t.Fatalf("rclone %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (r *rcloneEnv) try(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "rclone", args...)
	cmd.Env = r.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String() + stderr.String(), err
	}
	return stdout.String(), nil
}

type lsEntry struct {
	Path    string
	Name    string
	Size    int64
	ModTime time.Time
	IsDir   bool
	Hashes  map[string]string
}

func (r *rcloneEnv) lsjson(remote string, extra ...string) []lsEntry {
	r.t.Helper()
	args := append([]string{"lsjson", "-R", "--hash", remote}, extra...)
	out := r.run(args...)
	var es []lsEntry
	if err := json.Unmarshal([]byte(out), &es); err != nil {
		r.t.Fatalf("lsjson output: %v\n%s", err, out)
	}
	sort.Slice(es, func(i, j int) bool { return es[i].Path < es[j].Path })
	return es
}

// treeFile is one file of the source tree.
type treeFile struct {
	name  string
	data  []byte
	mtime time.Time
}

// makeTree writes a local tree with awkward names and one file large enough
// for rclone's chunked upload, each with its own modification time.
func makeTree(t *testing.T, dir string) []treeFile {
	t.Helper()
	rng := rand.New(rand.NewSource(1))
	big := make([]byte, 2*partSize+12345)
	rng.Read(big)
	base := time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)
	files := []treeFile{
		{name: "plain.txt", data: []byte("hello, b2\n")},
		{name: "with space/file name.txt", data: []byte("spaces")},
		{name: "unicode/自由 ünïcødé 🎉.txt", data: []byte("unicode")},
		{name: "percent/50%/x%2By.txt", data: []byte("percent")},
		{name: "plus/a+b=c.txt", data: []byte("plus")},
		{name: "hash/#tag.txt", data: []byte("hash")},
		{name: "question/why?.txt", data: []byte("question")},
		{name: "empty.bin", data: nil},
		{name: "deep/a/b/c/d/leaf.txt", data: []byte("deep")},
		{name: "large/big.bin", data: big},
	}
	for i := range files {
		f := &files[i]
		f.mtime = base.Add(time.Duration(i) * 97 * time.Minute)
		p := filepath.Join(dir, filepath.FromSlash(f.name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f.data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, f.mtime, f.mtime); err != nil {
			t.Fatal(err)
		}
	}
	return files
}

func sha1hex(b []byte) string {
	s := sha1.Sum(b)
	return hex.EncodeToString(s[:])
}

func TestRcloneInterop(t *testing.T) {
	r := newRclone(t)
	src := t.TempDir()
	files := makeTree(t, src)
	remote := ":b2:rclone-interop"

	// Bucket creation through the API.
	r.run("mkdir", remote)
	if got := r.run("lsd", ":b2:"); !strings.Contains(got, "rclone-interop") {
		t.Fatalf("bucket not listed by rclone lsd: %q", got)
	}

	// Copy the tree; rclone check compares sizes and SHA-1s (large_file_sha1
	// for the chunked file) and must find no difference.
	r.ts.ResetStats()
	r.run("copy", src, remote+"/tree")
	st := r.ts.Stats()
	if st.Calls["b2_upload_part"] < 3 || st.Calls["b2_finish_large_file"] != 1 {
		t.Errorf("large file did not take the multipart path: %v", st.Calls)
	}
	r.run("check", src, remote+"/tree")

	// Listing: every name, size, hash and the modification time rclone stored.
	es := r.lsjson(remote + "/tree")
	byPath := map[string]lsEntry{}
	for _, e := range es {
		if !e.IsDir {
			byPath[e.Path] = e
		}
	}
	for _, f := range files {
		e, ok := byPath[f.name]
		if !ok {
			t.Errorf("lsjson misses %q (got %d entries)", f.name, len(byPath))
			continue
		}
		if e.Size != int64(len(f.data)) {
			t.Errorf("%q: size %d, want %d", f.name, e.Size, len(f.data))
		}
		if !e.ModTime.Equal(f.mtime) {
			t.Errorf("%q: modtime %v, want %v", f.name, e.ModTime, f.mtime)
		}
		if h := e.Hashes["sha1"]; h != "" && h != sha1hex(f.data) {
			t.Errorf("%q: sha1 %s, want %s", f.name, h, sha1hex(f.data))
		}
	}
	if len(byPath) != len(files) {
		t.Errorf("lsjson lists %d files, want %d", len(byPath), len(files))
	}

	// Ranged reads: rclone cat --offset --count maps to a Range request.
	big := files[len(files)-1]
	for _, rg := range []struct{ off, n int }{{0, 10}, {partSize - 3, 7}, {len(big.data) - 100, 100}, {12345, 1 << 20}} {
		got := r.run("cat", "--offset", fmt.Sprint(rg.off), "--count", fmt.Sprint(rg.n), remote+"/tree/"+big.name)
		if want := big.data[rg.off : rg.off+rg.n]; !bytes.Equal([]byte(got), want) {
			t.Errorf("cat --offset %d --count %d: got %d bytes, want %d (first difference matters)", rg.off, rg.n, len(got), len(want))
		}
	}
	if got := r.run("cat", remote+"/tree/unicode/自由 ünïcødé 🎉.txt"); got != "unicode" {
		t.Errorf("cat of unicode name = %q", got)
	}

	// Server-side copy: small file through b2_copy_file, the large one
	// through b2_copy_part (copy cutoff is lowered to 5 MiB).
	r.ts.ResetStats()
	r.run("copyto", remote+"/tree/plus/a+b=c.txt", remote+"/copied/a+b=c copy.txt")
	r.run("copyto", remote+"/tree/"+big.name, remote+"/copied/big copy.bin")
	st = r.ts.Stats()
	if st.Calls["b2_copy_file"] < 1 || st.Calls["b2_copy_part"] < 2 {
		t.Errorf("server-side copy not used: %v", st.Calls)
	}
	if st.Calls["b2_upload_file"]+st.Calls["b2_upload_part"] != 0 {
		t.Errorf("copy re-uploaded data: %v", st.Calls)
	}
	if got := r.run("cat", remote+"/copied/a+b=c copy.txt"); got != "plus" {
		t.Errorf("copied small file = %q", got)
	}
	if got := r.run("sha1sum", remote+"/copied/big copy.bin"); !strings.HasPrefix(got, sha1hex(big.data)) {
		// rclone reads large_file_sha1 for a copy of a large file; it must
		// carry over with the metadata.
		out := r.run("cat", remote+"/copied/big copy.bin")
		if sha1hex([]byte(out)) != sha1hex(big.data) {
			t.Errorf("multipart copy corrupted the data")
		}
	}

	// Move: server-side copy then removal of the source.
	r.run("moveto", remote+"/tree/hash/#tag.txt", remote+"/moved/#tag moved.txt")
	if got := r.run("cat", remote+"/moved/#tag moved.txt"); got != "hash" {
		t.Errorf("moved file = %q", got)
	}
	// The source is hidden: rclone no longer finds it as a file (cat of a
	// missing file prints nothing) and the listing of its folder is empty.
	if out, _ := r.try("cat", remote+"/tree/hash/#tag.txt"); out != "" {
		t.Errorf("source of a move still readable: %q", out)
	}
	if out, _ := r.try("lsf", remote+"/tree/hash"); strings.TrimSpace(out) != "" {
		t.Errorf("source of a move still listed: %q", out)
	}

	// Versions: overwrite a file, the old version is listed with
	// --b2-versions and readable; the current one has the new bytes.
	upd := filepath.Join(t.TempDir(), "plain.txt")
	if err := os.WriteFile(upd, []byte("second version\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r.run("copyto", upd, remote+"/tree/plain.txt")
	if got := r.run("cat", remote+"/tree/plain.txt"); got != "second version\n" {
		t.Errorf("after overwrite cat = %q", got)
	}
	versions := r.run("ls", "--b2-versions", remote+"/tree")
	var old string
	for _, line := range strings.Split(versions, "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && strings.HasPrefix(f[1], "plain-v") {
			old = f[1]
		}
	}
	if old == "" {
		t.Fatalf("--b2-versions lists no old version of plain.txt:\n%s", versions)
	}
	if got := r.run("cat", "--b2-versions", remote+"/tree/"+old); got != "hello, b2\n" {
		t.Errorf("old version %s = %q", old, got)
	}

	// Delete (hide by default) then purge everything, including versions.
	r.run("delete", remote+"/tree/question")
	if out, _ := r.try("lsf", "-R", remote+"/tree/question"); strings.TrimSpace(out) != "" {
		t.Errorf("deleted files still listed: %q", out)
	}
	r.run("purge", remote)
	if got := r.run("lsd", ":b2:"); strings.Contains(got, "rclone-interop") {
		t.Errorf("bucket still exists after purge: %q", got)
	}
}

// TestRcloneSync checks that a second sync of an unchanged tree transfers
// nothing, which relies on the emulator's listings returning the sizes and
// modification times rclone stored.
func TestRcloneSync(t *testing.T) {
	r := newRclone(t)
	src := t.TempDir()
	makeTree(t, src)
	remote := ":b2:rclone-sync"
	r.run("mkdir", remote)
	r.run("sync", src, remote)
	r.ts.ResetStats()
	r.run("sync", src, remote)
	st := r.ts.Stats()
	if n := st.Calls["b2_upload_file"] + st.Calls["b2_upload_part"] + st.Calls["b2_copy_file"]; n != 0 {
		t.Errorf("second sync of an unchanged tree made %d uploads/copies: %v", n, st.Calls)
	}
	r.run("check", src, remote)
}
