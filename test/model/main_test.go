package model

import (
	"flag"
	"os"
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

// checksChosen: -rapid.checks or RAPID_CHECKS was given (see checksGiven).
var checksChosen bool

func TestMain(m *testing.M) {
	flag.Parse()
	checksChosen = os.Getenv("RAPID_CHECKS") != ""
	flag.Visit(func(f *flag.Flag) { checksChosen = checksChosen || f.Name == "rapid.checks" })
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

// newRunStats returns the counters of a test's checks, reported (and
// added to the file B2FS_MODEL_STATS names, for scripts/soak.sh) when the
// test ends, failing or not.
func newRunStats(t *testing.T) *runStats {
	stats := &runStats{}
	start := time.Now()
	t.Cleanup(func() {
		t.Logf("model: %d checks, %d operations (%d remounts, %d crashes, %d faults) in %v",
			stats.checks, stats.ops, stats.remounts, stats.crashes, stats.faults, time.Since(start).Round(time.Second))
		if p := os.Getenv("B2FS_MODEL_STATS"); p != "" {
			f, err := os.OpenFile(p, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
			if err == nil {
				f.WriteString(strconv.Itoa(stats.ops) + " " + strconv.Itoa(stats.checks) + " " + t.Name() + "\n")
				f.Close()
			}
		}
	})
	return stats
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
		m: newModel(uint32(os.Getuid()), uint32(os.Getgid()), umask, meta{perm: root.Perm, uid: root.UID, gid: root.GID, mtime: exact(root.Mtime)})}
	if q, ok := tg.(interface{ writersWaitForReaders() bool }); ok {
		r.writersWaitForReaders = q.writersWaitForReaders()
	}
	if q, ok := tg.(interface{ backgroundUploads() bool }); ok {
		r.backgroundUploads = q.backgroundUploads()
	}
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
