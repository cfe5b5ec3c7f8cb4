package main

import (
	"context"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// The Go collector lets the heap grow to twice the live data between
// collections (GOGC=100). For a mount that holds a large metadata working
// set (a directory of 100,000 names is about 100 MB of listing, inodes and
// nodes), that doubles its peak memory. b2fs keeps the heap near
// --memory-target instead: after each collection it sets the runtime's
// soft memory limit to the larger of the target and the live heap plus
// some headroom, so the collector runs more often only while b2fs holds
// more than the target allows, and never so often that it spends its
// time collecting what it cannot free (the headroom grows with the live
// heap). Small heaps are collected as usual.

// Headroom above the live heap that the limit always leaves: at least
// minHeadroom, and 1/headroomDiv of the live heap.
const (
	minHeadroom = 16 << 20
	headroomDiv = 8
)

// memoryLimit returns the soft memory limit for a target, the live heap
// and the runtime's other memory (stacks, metadata).
func memoryLimit(target, live, other uint64) uint64 {
	return other + max(target, live+max(minHeadroom, live/headroomDiv))
}

// memSamples are the runtime metrics the tuner reads.
var memSampleNames = [...]string{
	"/gc/cycles/total:gc-cycles",
	"/gc/heap/live:bytes",
	"/memory/classes/total:bytes",
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/unused:bytes",
	"/memory/classes/heap/free:bytes",
	"/memory/classes/heap/released:bytes",
}

// tuneMemory keeps the soft memory limit at memoryLimit(target, ...) until
// ctx ends, checking after every collection (polled). target 0, or
// GOMEMLIMIT set in the environment, leaves the runtime's settings alone.
func tuneMemory(ctx context.Context, target uint64) {
	if target == 0 || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	s := make([]metrics.Sample, len(memSampleNames))
	for i, n := range memSampleNames {
		s[i].Name = n
	}
	prev := debug.SetMemoryLimit(-1)
	apply := func(lastCycle uint64) uint64 {
		metrics.Read(s)
		for _, x := range s {
			if x.Value.Kind() != metrics.KindUint64 {
				return lastCycle // an older runtime: leave it alone
			}
		}
		cycle := s[0].Value.Uint64()
		if cycle == lastCycle {
			return cycle
		}
		live := s[1].Value.Uint64()
		heap := s[3].Value.Uint64() + s[4].Value.Uint64() + s[5].Value.Uint64() + s[6].Value.Uint64()
		other := s[2].Value.Uint64() - min(heap, s[2].Value.Uint64())
		debug.SetMemoryLimit(int64(memoryLimit(target, live, other)))
		return cycle
	}
	last := apply(^uint64(0))
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				debug.SetMemoryLimit(prev)
				return
			case <-t.C:
				last = apply(last)
			}
		}
	}()
}
