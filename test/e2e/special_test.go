package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/b2fs/b2fs/test/testenv"
)

// specialStatScript prints every name under the current directory
// (sorted) with its type, mode, owner, group, device numbers, and, except
// for directories and sockets (whose times GNU tar does not keep), mtime;
// symlink targets too. $SKIP names a type to leave out.
const specialStatScript = `find . -mindepth 1 | LC_ALL=C sort | while IFS= read -r f; do
  t=$(stat -c %F "$f")
  [ "$t" = "$SKIP" ] && continue
  case "$t" in directory|socket) stat -c '%n %F %a %u %g %t:%T' "$f";; *) stat -c '%n %F %a %u %g %t:%T %Y' "$f";; esac
  if [ -L "$f" ]; then printf '  -> %s\n' "$(readlink "$f")"; fi
done`

func specialTree(t *testing.T, dir, skip string) string {
	t.Helper()
	return sh(t, dir, "SKIP='"+skip+"'\n"+specialStatScript)
}

// makeSpecialTree builds a local tree with every file type.
func makeSpecialTree(t *testing.T, dir string) {
	t.Helper()
	sh(t, dir, `set -e
mkdir -p dev run
echo data > file; chmod 640 file; chown 1000:1000 file
ln -s file link
mkfifo -m 620 run/fifo; chown 1000:100 run/fifo
mknod -m 660 dev/null c 1 3
mknod -m 640 dev/sda1 b 8 1; chown 0:6 dev/sda1
mknod -m 600 dev/big c 4095 1048575
python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' run/sock
chmod 755 run/sock
touch -h -d @1500000000 file link run/fifo dev/null dev/sda1 dev/big
touch -d @1400000000 dev run
`)
}

// TestSpecialFiles: FIFOs, devices and unix sockets are created through
// the mount, keep type, mode, owner and device numbers across a remount
// (from the listing alone), can be renamed and removed, and behave (a FIFO
// passes data).
func TestSpecialFiles(t *testing.T) {
	testenv.RequireTool(t, "python3", "mkfifo", "mknod", "stat")
	w := newWriteEnv(t)
	m := w.m.Dir
	sh(t, m, `set -e
mkfifo -m 640 fifo
mknod cdev c 1 3; chmod 620 cdev; chown 1234:5678 cdev
mknod bdev b 8 17
python3 -c 'import socket; socket.socket(socket.AF_UNIX).bind("sock")'
`)
	const want = "bdev block special file 644 0 0 8:11\n" +
		"cdev character special file 620 1234 5678 1:3\n" +
		"fifo fifo 640 0 0 0:0\n" +
		"sock socket 755 0 0 0:0\n"
	stat := "stat -c '%n %F %a %u %g %t:%T' bdev cdev fifo sock"
	if got := sh(t, m, stat); got != want {
		t.Fatalf("stat:\n%s\nwant:\n%s", got, want)
	}
	// The kernel runs the FIFO.
	if got := sh(t, m, "(echo through-the-fifo > fifo &) ; cat fifo"); got != "through-the-fifo\n" {
		t.Fatalf("read from fifo: %q", got)
	}

	// After a remount the listing alone describes them: no call per file.
	w.m.stop(t)
	w2 := mountWrite(t, w.ts, "wbucket", "--dir-cache-ttl", "10m", "--attr-cache-ttl", "10m")
	m = w2.m.Dir
	sh(t, m, "ls -l >/dev/null")
	w.ts.ResetStats()
	if got := sh(t, m, stat); got != want {
		t.Fatalf("stat after remount:\n%s\nwant:\n%s", got, want)
	}
	if s := w.ts.Stats(); totalCalls(s) != 0 {
		t.Fatalf("stat after ls -l made calls: %v", s.Calls)
	}

	// mv keeps the type; rm removes.
	sh(t, m, "mkdir sub && mv cdev sub/cdev2 && mv fifo fifo2 && rm bdev sock")
	if got := sh(t, m, "stat -c '%n %F %a %u %g %t:%T' sub/cdev2 fifo2"); got != "sub/cdev2 character special file 620 1234 5678 1:3\nfifo2 fifo 640 0 0 0:0\n" {
		t.Fatalf("after mv: %q", got)
	}
	if got := sh(t, m, "ls"); got != "fifo2\nsub\n" {
		t.Fatalf("after rm: %q", got)
	}
}

// TestSpecialFilesRsyncAndTar: rsync -a and tar round trips of a tree with
// every file type, compared entry by entry, also after a remount.
func TestSpecialFilesRsyncAndTar(t *testing.T) {
	testenv.RequireTool(t, "python3", "rsync", "tar", "mkfifo", "mknod", "stat")
	src := filepath.Join(t.TempDir(), "src")
	os.Mkdir(src, 0o755)
	makeSpecialTree(t, src)
	all := specialTree(t, src, "")
	noSock := specialTree(t, src, "socket") // GNU tar leaves sockets out
	for _, typ := range []string{"fifo", "character special file", "block special file", "socket", "symbolic link", "fff:fffff"} {
		if !strings.Contains(all, typ) {
			t.Fatalf("source tree lacks %s:\n%s", typ, all)
		}
	}
	w := newWriteEnv(t)
	sh(t, w.m.Dir, "mkdir rs tr")
	sh(t, src, "rsync -a ./ "+filepath.Join(w.m.Dir, "rs")+"/")
	sh(t, src, "tar -cf - . 2>/dev/null | tar -C "+filepath.Join(w.m.Dir, "tr")+" -xpf -")
	same := func(what, want, got string) {
		t.Helper()
		if got != want {
			t.Fatalf("%s: trees differ\nsource:\n%s\ncopy:\n%s", what, want, got)
		}
	}
	same("rsync -a into the mount", all, specialTree(t, filepath.Join(w.m.Dir, "rs"), ""))
	same("tar into the mount", noSock, specialTree(t, filepath.Join(w.m.Dir, "tr"), ""))

	w.m.stop(t)
	w2 := mountWrite(t, w.ts, "wbucket")
	m := w2.m.Dir
	same("rsync tree after remount", all, specialTree(t, filepath.Join(m, "rs"), ""))
	back := filepath.Join(t.TempDir(), "back")
	os.Mkdir(back, 0o755)
	sh(t, m, "rsync -a rs/ "+back+"/")
	same("rsync -a out of the mount", all, specialTree(t, back, ""))
	back2 := filepath.Join(t.TempDir(), "back2")
	os.Mkdir(back2, 0o755)
	sh(t, filepath.Join(m, "tr"), "tar -cf - . 2>/dev/null | tar -C "+back2+" -xpf -")
	same("tar out of the mount", noSock, specialTree(t, back2, ""))
}
