package crash

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/b2fs/b2fs/test/testenv"
)

// TestGitCommitsMatchLocalDisk runs the git workload's script (fixed dates)
// on a mount, without a crash, and on local disk: the commits must have
// the same hashes (same trees, modes and contents), in both modes. The
// crash test relies on this to name the commits it expects. A short
// write-back delay makes background uploads end while git reads the files
// and the shell appends to f1.txt (a reader let go of a file before its
// upload was shown: the mount showed, and the next append built on, the
// version before).
func TestGitCommitsMatchLocalDisk(t *testing.T) {
	testenv.RequireTool(t, "git")
	for _, m := range append(modes(), mode{"writeback-20ms", []string{"--write-back=20ms"}}) {
		t.Run(m.name, func(t *testing.T) {
			w := gitWorkload(20)
			run := &wl{dir: t.TempDir()}
			w.prepare(t, run)
			e := newEnv(t, m)
			p := e.start(e.dir, e.cache)
			if out, err := w.cmd(run, e.dir).CombinedOutput(); err != nil {
				t.Fatalf("git on the mount: %v\n%s", err, out)
			}
			out, err := exec.Command("git", "-C", filepath.Join(e.dir, "repo"), "log", "--reverse", "--format=%H").Output()
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Fields(string(out))
			for i := range run.refs {
				if i >= len(got) || got[i] != run.refs[i] {
					diff, _ := exec.Command("sh", "-c", "cd "+filepath.Join(e.dir, "repo")+" && git log --stat --format='%H %s' | head -60").CombinedOutput()
					t.Fatalf("commit %d on the mount is %v, on local disk %s\n%s", i+1, got, run.refs[i], diff)
				}
			}
			p.stop()
		})
	}
}
