package crash

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/b2fs/b2fs/test/b2emu"
	"github.com/b2fs/b2fs/test/testenv"
)

// TestCrashDuringStreamedSHA1Copy: a file streamed as a large file while
// it was written gets its large_file_sha1 and exact mtime by a deferred
// server-side copy into a new large file (--streamed-sha1). When b2fs is
// killed while that copy runs, the next start cancels the copy's
// unfinished large file, recorded in the cache directory before its parts
// were copied, and the acknowledged content is in B2.
func TestCrashDuringStreamedSHA1Copy(t *testing.T) {
	for _, m := range modes() {
		t.Run(m.name, func(t *testing.T) {
			e := newEnv(t, m)
			p1 := e.start(e.dir, e.cache)
			// Every copied part waits, so the kill lands in the copy.
			e.ts.AddFault(b2emu.FaultRule{API: "b2_copy_part", Times: -1, Action: "stall", Delay: b2emu.Duration(300 * time.Millisecond)})
			data := testenv.Pattern(7, 3*partSize+12345)
			if err := os.WriteFile(filepath.Join(e.dir, "big.bin"), data, 0o644); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(30 * time.Second)
			for e.ts.Stats().Calls["b2_copy_part"] == 0 {
				if time.Now().After(deadline) {
					t.Fatalf("no deferred copy within 30s: %v", e.ts.Stats().Calls)
				}
				time.Sleep(10 * time.Millisecond)
			}
			p1.kill()
			e.ts.ClearFaults()
			p2 := e.start(e.dir, e.cache)
			e.settle(p2)
			p2.stop()
			cur := e.current()
			if f, ok := cur["big.bin"]; !ok || e.versionSHA1(f) != sha1Hex(data) {
				t.Fatalf("acknowledged big.bin is not in B2 with its content (%v)", ok)
			}
			for _, u := range e.unfinished() {
				t.Errorf("unfinished large file left in B2: %s (info %v)", u.Name, u.Info)
			}
		})
	}
}
