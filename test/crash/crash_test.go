package crash

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/b2fs/b2fs/b2client"
	"github.com/b2fs/b2fs/test/testenv"
)

// expect is what B2 must hold for an acknowledged file.
type expect struct {
	sha1  string
	size  int64
	mode  os.FileMode // permission bits; 0: not checked
	mtime int64       // milliseconds; 0: not checked
}

// workload is one tool run on the mount that a crash interrupts.
type workload struct {
	name string
	// prepare builds the workload's input on local disk.
	prepare func(t *testing.T, w *wl)
	// cmd is the command run on the mount (mnt is its root).
	cmd func(w *wl, mnt string) *exec.Cmd
	// acked returns the acknowledged files by name in the bucket.
	acked func(t *testing.T, w *wl, mnt string) map[string]expect
	// final tells whether a name in the bucket is a final name (not a
	// temporary one the tool renames or removes).
	final func(name string) bool
	// allowed checks that a version stored under a final name holds a
	// state the file really had.
	allowed func(e *env, w *wl, f b2client.File) error
	// after checks the tree on a fresh mount of what B2 holds.
	after func(t *testing.T, w *wl, mnt string)
	// span bounds the random kill moment; the tool usually takes about
	// this long (the machine is shared, so some kills land after it).
	span time.Duration
}

// wl is one run of a workload: its input and what the tool reported.
type wl struct {
	dir   string // local work directory (sources, traces)
	files map[string]srcFile
	ack   string // file the git script appends acknowledged commits to
	refs  []string
}

type srcFile struct {
	data  []byte
	mode  os.FileMode
	mtime time.Time
}

// envInt reads a positive integer setting.
func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// full tells whether the soak sizes are asked for (scripts/crash-soak.sh).
func full() bool { return os.Getenv("B2FS_CRASH_FULL") == "1" }

func selected(envName, name string) bool {
	v := os.Getenv(envName)
	if v == "" {
		return true
	}
	for _, s := range strings.Split(v, ",") {
		if strings.TrimSpace(s) == name {
			return true
		}
	}
	return false
}

func modes() []mode { return []mode{modeDefault, modeWriteBack} }

// TestCrash kills b2fs at random moments during each workload, restarts
// it on the same cache directory and checks B2 and the remounted tree
// (doc.go). B2FS_CRASH_SEED reproduces a run: where in the workload's span
// each kill falls is drawn from the seed, the mode, the workload and the
// moment's number.
func TestCrash(t *testing.T) {
	testenv.RequireTool(t, "strace", "rsync", "git", "cp")
	seed := uint64(time.Now().UnixNano())
	if v, err := strconv.ParseUint(os.Getenv("B2FS_CRASH_SEED"), 10, 64); err == nil {
		seed = v
	}
	moments := envInt("B2FS_CRASH_MOMENTS", 2)
	t.Logf("B2FS_CRASH_SEED=%d, %d moments per workload and mode", seed, moments)
	for _, m := range modes() {
		if !selected("B2FS_CRASH_MODES", m.name) {
			continue
		}
		t.Run(m.name, func(t *testing.T) {
			for _, w := range workloads() {
				if !selected("B2FS_CRASH_WORKLOADS", w.name) {
					continue
				}
				t.Run(w.name, func(t *testing.T) {
					for i := range moments {
						t.Run(strconv.Itoa(i), func(t *testing.T) {
							h := fnv.New64a()
							fmt.Fprintf(h, "%s/%s", m.name, w.name)
							rng := rand.New(rand.NewPCG(seed, h.Sum64()+uint64(i)))
							crashOnce(t, m, w, rng)
						})
					}
				})
			}
		})
	}
}

// crashOnce runs w on a fresh mount, kills b2fs at a moment drawn from
// rng, restarts it, settles and checks.
func crashOnce(t *testing.T, m mode, w *workload, rng *rand.Rand) {
	e := newEnv(t, m)
	run := &wl{dir: t.TempDir()}
	w.prepare(t, run)
	p1 := e.start(e.dir, e.cache)

	// The seed fixes where in the workload's span the kill falls; the span
	// follows how long the workload took here before.
	frac := rng.Float64()
	delay := time.Duration(frac * float64(w.spanFor(m)))
	cmd := w.cmd(run, e.dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out := &testenv.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	toolDone := make(chan error, 1)
	go func() { toolDone <- cmd.Wait() }()
	t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	var toolErr error
	finished := false
	select {
	case <-time.After(delay):
	case toolErr = <-toolDone:
		finished = true
	}
	took := time.Since(t0)
	if finished && toolErr == nil {
		w.observe(m, took)
	}
	time.Sleep(time.Until(t0.Add(delay)))
	p1.kill()
	when := "during the workload"
	if finished {
		when = fmt.Sprintf("after the workload (it took %v, err %v)", took.Round(time.Millisecond), toolErr)
	}
	t.Logf("killed b2fs %v after the start (%.3f of the span), %s; B2 calls until then: %v", delay.Round(time.Millisecond), frac, when, e.ts.Stats().Calls)
	if !finished {
		select {
		case <-toolDone:
		case <-time.After(time.Minute):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			t.Fatalf("%s did not end within 1m of the kill:\n%s", w.name, testenv.Tail(out.String(), 20))
		}
	}
	acked := w.acked(t, run, e.dir)
	t.Logf("%d files acknowledged", len(acked))

	p2 := e.start(e.dir, e.cache)
	e.settle(p2)
	shown := snapshot(t, e.dir)
	for name, x := range acked {
		got, ok := shown[name]
		if !ok || got.sha1 != x.sha1 {
			t.Errorf("acknowledged %s: the restarted mount shows %v, want sha1 %.12s (%d bytes)", name, got, x.sha1, x.size)
		}
	}
	p2.stop()

	for i, msg := range e.checkB2(w, run, acked) {
		if i == 20 {
			t.Errorf("...")
			break
		}
		t.Error(msg)
	}

	dir3, cache3 := filepath.Join(t.TempDir(), "mnt"), filepath.Join(t.TempDir(), "cache")
	os.Mkdir(dir3, 0o755)
	p3 := e.start(dir3, cache3)
	fresh := snapshot(t, dir3)
	if d := diffTrees(shown, fresh, "the restarted mount", "a fresh mount"); len(d) > 0 {
		t.Errorf("a fresh mount shows another tree than the restarted one:\n%s", strings.Join(d, "\n"))
	}
	if w.after != nil {
		w.after(t, run, dir3)
	}
	p3.stop()
	if t.Failed() {
		t.Logf("tool output:\n%s", testenv.Tail(out.String(), 20))
		t.Logf("b2fs log (crashed run, restart, fresh mount):\n%s", testenv.Tail(p1.output(), 150))
	}
}

var (
	spanMu sync.Mutex
	spans  = map[string]time.Duration{}
)

// spanFor is the range of kill moments: the time the workload took
// without a kill in this mode the last time it ran in this process, with
// a margin, or the workload's guess before it has run. With write-back
// the range goes on for a second after the tool returns, while the
// uploads run.
func (w *workload) spanFor(m mode) time.Duration {
	spanMu.Lock()
	defer spanMu.Unlock()
	d, ok := spans[m.name+"/"+w.name]
	if !ok {
		d = w.span
	}
	d = d * 6 / 5
	if m.name == modeWriteBack.name {
		d += time.Second
	}
	return d
}

func (w *workload) observe(m mode, took time.Duration) {
	spanMu.Lock()
	defer spanMu.Unlock()
	spans[m.name+"/"+w.name] = max(took, 50*time.Millisecond)
}

// checkB2 checks every stored version under a final name, the
// acknowledged files and that no large file is left unfinished, and
// returns what is wrong.
func (e *env) checkB2(w *workload, run *wl, acked map[string]expect) []string {
	var bad []string
	for _, f := range e.versions() {
		if f.Action != "upload" || path.Base(f.Name) == ".bzEmpty" || !w.final(f.Name) {
			continue
		}
		if err := w.allowed(e, run, f); err != nil {
			bad = append(bad, fmt.Sprintf("B2 version %s of %s (%d bytes) holds a state the file never had: %v", f.ID, f.Name, f.Size, err))
		}
	}
	cur := e.current()
	for name, x := range acked {
		f, ok := cur[name]
		if !ok {
			bad = append(bad, fmt.Sprintf("acknowledged %s is not in B2", name))
			continue
		}
		if f.Size != x.size || e.versionSHA1(f) != x.sha1 {
			bad = append(bad, fmt.Sprintf("acknowledged %s: B2 has %d bytes sha1 %.12s, want %d bytes sha1 %.12s", name, f.Size, e.versionSHA1(f), x.size, x.sha1))
		}
		if x.mode != 0 && f.Info["b2fs-mode"] != strconv.FormatUint(uint64(x.mode), 8) {
			bad = append(bad, fmt.Sprintf("acknowledged %s: B2 has mode %q, want %o", name, f.Info["b2fs-mode"], x.mode))
		}
		if x.mtime != 0 && f.Info[b2client.InfoModTime] != strconv.FormatInt(x.mtime, 10) {
			bad = append(bad, fmt.Sprintf("acknowledged %s: B2 has mtime %q, want %d", name, f.Info[b2client.InfoModTime], x.mtime))
		}
	}
	for _, u := range e.unfinished() {
		bad = append(bad, fmt.Sprintf("unfinished large file left in B2: %s", u.Name))
	}
	sort.Strings(bad)
	return bad
}
