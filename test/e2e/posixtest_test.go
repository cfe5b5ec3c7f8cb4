package e2e

import (
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/hanwen/go-fuse/v2/posixtest"

	"github.com/b2fs/b2fs/test/b2emu"
)

// posixExcluded lists the go-fuse posixtest tests TestPosixtest does not
// run, each with the reason. Every other test in posixtest.All runs.
var posixExcluded = map[string]string{
	// B2 has no hard links: link(2) fails with EPERM (README).
	"Link":             "hard links (b2fs answers EPERM)",
	"LinkUnlinkRename": "hard links (b2fs answers EPERM)",
	// b2fs does not implement fallocate(2) (EOPNOTSUPP); tools that
	// preallocate fall back to writing.
	"Fallocate":         "fallocate not implemented (EOPNOTSUPP)",
	"FallocateKeepSize": "fallocate not implemented (EOPNOTSUPP)",
	// The test expects a second descriptor of the same process to
	// conflict with the first one's F_SETLK lock. POSIX record locks
	// belong to the process, so they never do: the test fails on ext4 as
	// well. b2fs leaves locking to the kernel.
	"FcntlFlockLocksFile": "expects per-descriptor F_SETLK locks; fails on ext4 too",
	// O_TMPFILE is not implemented (EOPNOTSUPP): a nameless file cannot be
	// staged under a B2 name.
	"Tmpfile": "O_TMPFILE not implemented (EOPNOTSUPP)",
	// B2 keeps at most 7,000 bytes of file info per file; an 8 KiB xattr
	// value never fits (E2BIG, README "Limits").
	"XAttrLarge": "8 KiB xattr exceeds B2's file info limit (E2BIG)",
}

// TestPosixtest runs go-fuse's posixtest suite against a b2fs mount, each
// test in a fresh directory of it. A test that skips fails here: what does
// not apply is excluded above, with the reason. B2FS_POSIXTEST_ALL=1 runs
// the excluded ones too (to see whether a known bug is fixed).
func TestPosixtest(t *testing.T) {
	ts := newServer(t, b2emu.Options{AbsoluteMinimumPartSize: wPart, RecommendedPartSize: wPart}, "pbucket")
	m := startMount(t, ts, mountOpts{Source: "pbucket", Args: []string{"--cache-dir", filepath.Join(t.TempDir(), "cache"), "--part-size", "64KiB"}})
	names := make([]string, 0, len(posixtest.All))
	for name := range posixtest.All {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if why, ok := posixExcluded[name]; ok && os.Getenv("B2FS_POSIXTEST_ALL") != "1" {
			t.Logf("%s excluded: %s", name, why)
			continue
		}
		dir := filepath.Join(m.Dir, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		t.Run(name, func(t *testing.T) {
			defer func() {
				if t.Skipped() {
					t.Errorf("skipped: exclude it in posixExcluded with the reason instead")
				}
			}()
			posixtest.All[name](t, dir)
		})
	}
}
