package listing

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// manyNames returns n file names that sort in order.
func manyNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("f%05d", i)
	}
	return out
}

// idleStream opens the stream of the root of be (pages of 100 entries),
// reads its first page and waits until its fetcher went idle.
func idleStream(t *testing.T, m *Meta) *Stream {
	t.Helper()
	b := Bucket{ID: "b1", Name: "alpha"}
	s := m.openStream(b, "")
	if _, _, _, _, err := s.wait(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.mu.Lock()
		running := s.running
		s.mu.Unlock()
		if !running {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatal("the fetcher never went idle")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestStreamWaitLockOrder: a reader restarting an idle fetcher must not
// hold Stream.mu while it takes Meta.streamMu (the documented order is
// streamMu, then Stream.mu; openStream follows it): a reader in wait and
// a reader in openStream of the same directory would deadlock.
func TestStreamWaitLockOrder(t *testing.T) {
	m := newMeta(t, newMemBackend(manyNames(1000)...), 100)
	m.streamIdle.Store(int64(5 * time.Millisecond))
	s := idleStream(t, m)
	s.mu.Lock()
	pages := s.pages
	s.mu.Unlock()

	// Play openStream: hold streamMu while a reader wants more.
	m.streamMu.Lock()
	done := make(chan error, 1)
	go func() {
		_, _, _, _, err := s.wait(context.Background(), pages)
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	// openStream would now take s.mu: it must be free.
	free := false
	for i := 0; i < 200 && !free; i++ {
		if s.mu.TryLock() {
			s.mu.Unlock()
			free = true
			break
		}
		time.Sleep(time.Millisecond)
	}
	m.streamMu.Unlock()
	if !free {
		t.Error("wait holds Stream.mu while it waits for Meta.streamMu (ABBA with openStream)")
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("wait did not return")
	}
}

// TestStreamRestartedAfterIdleIsShared: a reader that restarts a fetcher
// just as it went idle keeps it shared, so a second reader of the
// directory joins it instead of listing the directory again.
func TestStreamRestartedAfterIdleIsShared(t *testing.T) {
	be := newMemBackend(manyNames(1000)...) // 10 pages of 100
	m := newMeta(t, be, 100)
	m.streamIdle.Store(int64(5 * time.Millisecond))
	var once sync.Once
	restarted := make(chan error, 1)
	m.afterIdle = func(s *Stream) {
		once.Do(func() {
			// From now on the fetcher stays up while this test runs.
			m.streamIdle.Store(int64(time.Minute))
			s.mu.Lock()
			pages := s.pages
			s.mu.Unlock()
			_, _, _, _, err := s.wait(context.Background(), pages)
			restarted <- err
		})
	}
	s := m.openStream(Bucket{ID: "b1", Name: "alpha"}, "")
	if _, _, _, _, err := s.wait(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-restarted:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the fetcher never went idle")
	}
	// A second reader lists the whole directory.
	es, err := m.listDir(context.Background(), Bucket{ID: "b1", Name: "alpha"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1000 {
		t.Fatalf("listed %d entries, want 1000", len(es))
	}
	if n := be.Calls("ListDir"); n != 10 {
		t.Fatalf("%d list calls for a directory of 10 pages: listed twice", n)
	}
}
