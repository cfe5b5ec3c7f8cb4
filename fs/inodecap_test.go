package fs

import (
	"fmt"
	"testing"
)

// TestInodeCapKeepsEveryDrop: however far the names handed to the kernel
// run ahead of the notifier, every inode beyond the cap waits for its
// drop, oldest first; none is skipped (a skipped one would stay in memory
// until the kernel forgets it on its own).
func TestInodeCapKeepsEveryDrop(t *testing.T) {
	const max, n = 100, 20000
	c := newInodeCap(max)
	c.running = true // a notifier is busy: nothing drains
	for i := range n {
		c.added(nil, fmt.Sprint(i))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.pending) != n-max {
		t.Fatalf("%d drops pending, want %d", len(c.pending), n-max)
	}
	for i, e := range c.pending {
		if e.name != fmt.Sprint(i) {
			t.Fatalf("drop %d is %q, want the oldest first", i, e.name)
		}
	}
	if len(c.ring) != max {
		t.Errorf("ring holds %d, want %d", len(c.ring), max)
	}
}
