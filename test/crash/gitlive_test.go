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
// crash test relies on this to name the commits it expects.
func TestGitCommitsMatchLocalDisk(t *testing.T) {
	testenv.RequireTool(t, "git")
	for _, m := range modes() {
		t.Run(m.name, func(t *testing.T) {
			w := gitWorkload(12)
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
