package main

import (
	"context"
	"math"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestMemoryLimit(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct{ target, live, other, want uint64 }{
		{128 * mib, 10 * mib, 5 * mib, 133 * mib},           // small heap: the target
		{128 * mib, 110 * mib, 5 * mib, 133 * mib},          // near it: still the target
		{128 * mib, 120 * mib, 0, 136 * mib},                // beyond: at least 16 MiB of headroom
		{128 * mib, 800 * mib, 10 * mib, (810 + 100) * mib}, // large: 1/8 of the live heap
		{0, 0, 0, 16 * mib},                                 // never below the headroom
	} {
		if got := memoryLimit(tc.target, tc.live, tc.other); got != tc.want {
			t.Errorf("memoryLimit(%d, %d, %d) = %d MiB, want %d MiB", tc.target/mib, tc.live/mib, tc.other/mib, got/mib, tc.want/mib)
		}
	}
}

// TestTuneMemory: the runtime's soft limit follows the target while the
// tuner runs and is restored when it stops.
func TestTuneMemory(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	before := debug.SetMemoryLimit(-1)
	ctx, cancel := context.WithCancel(context.Background())
	const target = 512 << 20
	tuneMemory(ctx, target)
	runtime.GC()
	lim := debug.SetMemoryLimit(-1)
	if lim < target || lim > target+256<<20 {
		t.Errorf("limit %d MiB while tuning, want about %d MiB", lim>>20, target>>20)
	}
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for debug.SetMemoryLimit(-1) != before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Errorf("limit %d after the tuner stopped, want %d", got, before)
	}
	if before != math.MaxInt64 {
		t.Logf("the test process had a limit already: %d", before)
	}
}
