package model

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"pgregory.net/rapid"

	"github.com/b2fs/b2fs/test/testenv"
)

// TestModelFUSE runs random operation sequences against a real b2fs mount
// and the model. Each rapid check starts its own b2emu and b2fs. The
// defaults (checks and steps) keep it around two minutes; scripts/soak.sh
// runs it for longer. A failure prints the rapid seed and the shrunk
// sequence of operations (docs/testing.md).
func TestModelFUSE(t *testing.T) {
	testenv.RequireFUSE(t)
	bin := b2fsBinary(t)
	stats := newRunStats(t)
	rapid.Check(t, func(rt *rapid.T) {
		delay := rapid.SampledFrom([]string{"0", "200ms", "1s"}).Draw(rt, "metadata-delay")
		// Passthrough on or off: on, writers cannot open a file while
		// readers have it open (see fuseConfig.NoPassthrough).
		passthrough := rapid.Bool().Draw(rt, "passthrough")
		cfg := fuseConfig{MetadataDelay: delay, NoPassthrough: !passthrough}
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
