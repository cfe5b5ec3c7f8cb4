package model

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/b2fs/b2fs/test/testenv"
)

// umask is the test process's umask, which the kernel applies to the
// modes of new files and directories.
const umask = 0o022

// defaultSeed is the rapid seed of a plain `go test` (CI): the same
// sequences every run, so that CI fails only when b2fs changes.
// scripts/soak.sh draws new seeds; so do -rapid.seed=0, RAPID_SEED=0 or
// B2FS_MODEL_RANDOM=1.
const defaultSeed = "3"

func TestMain(m *testing.M) {
	flag.Parse()
	seedGiven := os.Getenv("RAPID_SEED") != "" || os.Getenv("B2FS_MODEL_RANDOM") == "1"
	flag.Visit(func(f *flag.Flag) { seedGiven = seedGiven || f.Name == "rapid.seed" || f.Name == "rapid.failfile" })
	if !seedGiven {
		flag.Set("rapid.seed", defaultSeed)
	}
	syscall.Umask(umask)
	code := m.Run()
	testenv.Cleanup()
	os.Exit(code)
}

// TestModelFUSE runs random operation sequences against a real b2fs mount
// and the model. Each rapid check starts its own b2emu and b2fs. The
// defaults (checks and steps) keep it around two minutes; scripts/soak.sh
// runs it for longer. A failure prints the rapid seed and the shrunk
// sequence of operations (docs/testing.md).
func TestModelFUSE(t *testing.T) {
	testenv.RequireFUSE(t)
	bin := b2fsBinary(t)
	stats := &runStats{}
	strict := os.Getenv("B2FS_MODEL_STRICT") == "1"
	start := time.Now()
	// Counted in a cleanup, so that a failing run reports its operations too.
	t.Cleanup(func() {
		t.Logf("model: %d checks, %d operations (%d remounts, %d crashes, %d faults) in %v",
			stats.checks, stats.ops, stats.remounts, stats.crashes, stats.faults, time.Since(start).Round(time.Second))
		if p := os.Getenv("B2FS_MODEL_STATS"); p != "" {
			f, err := os.OpenFile(p, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
			if err == nil {
				f.WriteString(strconv.Itoa(stats.ops) + " " + strconv.Itoa(stats.checks) + "\n")
				f.Close()
			}
		}
	})
	rapid.Check(t, func(rt *rapid.T) {
		delay := rapid.SampledFrom([]string{"0", "200ms", "1s"}).Draw(rt, "metadata-delay")
		cfg := fuseConfig{MetadataDelay: delay, WaitRecovery: !strict, NoPassthrough: !strict}
		if os.Getenv("B2FS_MODEL_WRITEBACK") == "1" {
			// Short delays, so that uploads land between and during the
			// steps, and crashes find changes both pending and in flight.
			cfg.WriteBack = rapid.SampledFrom([]string{"30ms", "300ms"}).Draw(rt, "write-back")
		}
		ft, err := startFUSE(bin, t.TempDir(), cfg)
		if err != nil {
			rt.Fatalf("start b2fs: %v", err)
		}
		defer func() {
			if err := ft.Close(); err != nil {
				rt.Errorf("stop b2fs: %v\n%s", err, ft.Log())
			}
		}()
		runModel(rt, ft, ft, stats, ft.dumpStacks, delay)
	})
}

// b2fsBinary builds b2fs, with the race detector when B2FS_MODEL_RACE=1
// (scripts/soak.sh): a data race in b2fs then fails the check that hit it.
func b2fsBinary(t *testing.T) string {
	if os.Getenv("B2FS_MODEL_RACE") != "1" {
		return testenv.Binary(t, "b2fs")
	}
	out := filepath.Join(t.TempDir(), "b2fs-race")
	cmd := exec.Command("go", "build", "-race", "-o", out, "./cmd/b2fs")
	cmd.Dir = testenv.RepoRoot(t)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build -race ./cmd/b2fs: %v\n%s", err, b)
	}
	return out
}

// runModel runs one check: a random sequence against tg, then a remount
// and a comparison of the whole tree.
func runModel(rt *rapid.T, tg Target, lc Lifecycle, stats *runStats, stuck func(), delay string) {
	root, err := tg.Lstat("")
	if err != nil {
		rt.Fatalf("stat of the root: %v", err)
	}
	stats.checks++
	r := &runner{t: rt, tg: tg, lc: lc, stuck: stuck, stats: stats, rootStat: root, strict: os.Getenv("B2FS_MODEL_STRICT") == "1", delay: delay,
		writeBack: os.Getenv("B2FS_MODEL_WRITEBACK") == "1",
		m:         newModel(uint32(os.Getuid()), uint32(os.Getgid()), umask, meta{perm: root.Perm, uid: root.UID, gid: root.GID, mtime: exact(root.Mtime)})}
	defer func() {
		for _, h := range r.m.handles {
			h.th.Close()
		}
	}()
	rt.Repeat(map[string]func(*rapid.T){"step": r.step})
	// Everything still open is closed and the mount restarted: the whole
	// tree must be in B2.
	lc.ClearFaults()
	r.steps++
	r.opRemount(rt)
}
