package main

import (
	"crypto/sha1"
	"os"
	"testing"
	"time"
)

// procCPU reads this process's own CPU time, which grows while it works.
func TestProcCPU(t *testing.T) {
	before, err := procCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	self0 := selfCPU()
	for start := time.Now(); time.Since(start) < 300*time.Millisecond; {
		sha1.Sum(buf)
	}
	after, err := procCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Clock ticks are 10 ms; a busy 300 ms (on a loaded machine, at
	// least some of it on a CPU) moves the count.
	if after <= before {
		t.Errorf("CPU time did not grow: %v then %v", before, after)
	}
	if d := selfCPU() - self0; d <= 0 {
		t.Errorf("getrusage CPU time did not grow: %v", d)
	}
	if _, err := procCPU(1 << 30); err == nil {
		t.Error("no error for a process that does not exist")
	}
}
