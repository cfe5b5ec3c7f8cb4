package readahead

import (
	"bytes"
	"context"
	"testing"
	"time"
)

func joined(vec [][]byte) []byte {
	var b []byte
	for _, v := range vec {
		b = append(b, v...)
	}
	return b
}

// A ReadVec result is the reader's own buffers: they must not be recycled
// for later downloads while the caller holds them, and must all go back to
// the budget once released, also when released after Close.
func TestReadVecPinsBuffersUntilReleased(t *testing.T) {
	const size = 24 << 20
	const budgetBytes = 16 << 20
	budget := NewBudget(budgetBytes)
	opts := ReadOptions{InitialWindow: 512 << 10, MaxWindow: 4 << 20, ChunkSize: 512 << 10, Budget: budget}
	remote := &fakeRemote{data: pattern(size)}
	r := New(size, remote.fetch, opts)
	ctx := context.Background()

	// Held across the whole read: its segment is dropped long before the
	// end (keepBehind is 8 MiB) and its buffer would serve a later
	// download if the pin did not keep it.
	var held [][]byte
	releaseHeld := func() {}
	const step = 384 << 10 // not a multiple of the chunk: reads straddle segments
	const heldAt = 11 * step
	var crossed bool
	for off := int64(0); off < size; off += step {
		vec, release, err := r.ReadVec(ctx, off, step)
		if off == heldAt {
			held, releaseHeld = vec, release
			continue
		}
		want := remote.data[off:min(size, off+step)]
		if err != nil || !bytes.Equal(joined(vec), want) {
			t.Fatalf("ReadVec(%d) = %d bytes, %v (or wrong bytes)", off, len(joined(vec)), err)
		}
		crossed = crossed || len(vec) > 1
		release()
		release() // a second call is harmless
	}
	if !crossed {
		t.Fatal("no read spanned two segments")
	}
	if !bytes.Equal(joined(held), remote.data[heldAt:heldAt+step]) {
		t.Fatal("a held ReadVec buffer was overwritten by a later download")
	}
	vec, release, err := r.ReadVec(ctx, size, 4096)
	if err != nil || len(vec) != 0 {
		t.Fatalf("ReadVec at EOF = %d slices, %v", len(vec), err)
	}
	release()

	r.Close()
	releaseHeld()
	waitBudgetWhole(t, budget, budgetBytes)
}

// waitBudgetWhole waits until all n bytes of the budget can be had.
func waitBudgetWhole(t *testing.T, budget *Budget, n int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !budget.tryAcquire(n) {
		if time.Now().After(deadline) {
			t.Fatalf("budget not whole after the last release (%d idle bytes)", budget.bufs.idleBytes())
		}
		time.Sleep(time.Millisecond)
	}
}

// Without the release the buffers stay out of the pool: the budget cannot
// be had in full while a ReadVec result is held.
func TestReadVecHeldBufferKeepsBudget(t *testing.T) {
	const size = 8 << 20
	budget := NewBudget(8 << 20)
	opts := ReadOptions{InitialWindow: 1 << 20, MaxWindow: 2 << 20, ChunkSize: 1 << 20, Budget: budget}
	remote := &fakeRemote{data: pattern(size)}
	r := New(size, remote.fetch, opts)
	_, release, err := r.ReadVec(context.Background(), 0, 4096)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	time.Sleep(50 * time.Millisecond) // fetches cancelled by Close finish
	if budget.tryAcquire(8 << 20) {
		t.Fatal("the whole budget was free while a ReadVec buffer was held")
	}
	release()
	waitBudgetWhole(t, budget, 8<<20)
}
