package model

import (
	"flag"
	"strconv"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// The in-process targets: the same model and operations as TestModelFUSE,
// driving package vfs directly (vfstarget_test.go). Without the kernel
// and a subprocess a check costs milliseconds, so a plain go test runs
// thousands of sequences; a failure shrinks to a short sequence fast.

// vfsChecks is the default number of checks of TestModelVFS when neither
// -rapid.checks nor RAPID_CHECKS is given (rapid's default is 100): a
// minute on a loaded two-core machine, with or without the race detector.
func vfsChecks() int {
	if raceEnabled {
		return 150
	}
	return 1000
}

// TestModelVFS runs random sequences against package vfs over the
// in-memory store of package fstest (no faults: the store has none).
func TestModelVFS(t *testing.T) {
	if !checksGiven() {
		setChecks(t, vfsChecks())
	}
	runVFS(t, false, false)
}

// TestModelVFSB2 runs random sequences against package vfs over b2emu on
// 127.0.0.1 through the B2 adapter (b2backend, b2client), with b2emu's
// faults.
func TestModelVFSB2(t *testing.T) {
	if !checksGiven() {
		setChecks(t, vfsChecks()/15)
	}
	runVFS(t, true, false)
}

// TestModelVFSWriteBack is TestModelVFS with the staging area in
// write-back mode: close returns once the file is durable on local disk
// and uploads follow in the background, so a crash must lose nothing that
// close, fsync or a rename acknowledged (recovery uploads it). By default
// it runs few sequences; scripts/soak.sh runs many.
func TestModelVFSWriteBack(t *testing.T) {
	if !checksGiven() {
		setChecks(t, vfsChecks()/15)
	}
	runVFS(t, false, true)
}

func runVFS(t *testing.T, b2emu, writeBack bool) {
	stats := newRunStats(t)
	rapid.Check(t, func(rt *rapid.T) {
		delay := rapid.SampledFrom([]string{"0", "200ms", "1s"}).Draw(rt, "metadata-delay")
		d, err := time.ParseDuration(delay)
		if err != nil {
			rt.Fatal(err)
		}
		rc := rapid.Bool().Draw(rt, "read-cache")
		cfg := vfsConfig{B2Emu: b2emu, MetadataDelay: d, ReadCache: rc, WriteBack: writeBack}
		if writeBack {
			cfg.WriteBackDelay = rapid.SampledFrom([]time.Duration{time.Millisecond, 50 * time.Millisecond, time.Hour}).Draw(rt, "write-back-delay")
		}
		vt, err := startVFS(t.TempDir(), cfg)
		if err != nil {
			rt.Fatalf("start the vfs: %v", err)
		}
		defer func() {
			if err := vt.Close(); err != nil {
				rt.Errorf("stop the vfs: %v\n%s", err, vt.Log())
			}
		}()
		runModel(rt, vt, vt, stats, vt.stuck, delay)
	})
}

// checksGiven reports whether the number of checks was chosen on the
// command line or in the environment (decided in TestMain, before any
// test sets it).
func checksGiven() bool { return checksChosen }

// setChecks sets rapid's number of checks for the rest of t.
func setChecks(t *testing.T, n int) {
	old := flag.Lookup("rapid.checks").Value.String()
	flag.Set("rapid.checks", strconv.Itoa(n))
	t.Cleanup(func() { flag.Set("rapid.checks", old) })
}
