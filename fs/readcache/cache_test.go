package readcache

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// origin is a fake B2: file contents by ID, counting downloads.
type origin struct {
	mu      sync.Mutex
	files   map[string][]byte
	calls   atomic.Int64
	bytes   atomic.Int64
	failAt  atomic.Int64 // > 0: every download fails after this many bytes
	failNow atomic.Bool  // downloads fail before any byte
}

func newOrigin() *origin { return &origin{files: map[string][]byte{}} }

func (o *origin) add(id string, seed uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	o.mu.Lock()
	o.files[id] = b
	o.mu.Unlock()
	return b
}

var errFault = errors.New("injected download fault")

type faultReader struct {
	r    io.Reader
	left int64
}

func (f *faultReader) Read(p []byte) (int, error) {
	if f.left <= 0 {
		return 0, errFault
	}
	if int64(len(p)) > f.left {
		p = p[:f.left]
	}
	n, err := f.r.Read(p)
	f.left -= int64(n)
	return n, err
}

func (o *origin) fetch(id string) FetchFunc {
	return func(ctx context.Context, off, length int64) (io.ReadCloser, error) {
		o.calls.Add(1)
		if o.failNow.Load() {
			return nil, errFault
		}
		o.mu.Lock()
		b := o.files[id]
		o.mu.Unlock()
		if off < 0 || off+length > int64(len(b)) {
			return nil, fmt.Errorf("bad range %d+%d of %d", off, length, len(b))
		}
		o.bytes.Add(length)
		var r io.Reader = bytes.NewReader(b[off : off+length])
		if k := o.failAt.Load(); k > 0 {
			r = &faultReader{r: r, left: k}
		}
		return io.NopCloser(r), nil
	}
}

func openCache(t *testing.T, dir string, max int64) *Cache {
	t.Helper()
	c, err := Open(Options{Dir: dir, MaxSize: max, BlockSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.syncWr = true
	return c
}

// crash abandons c as a kill -9 would: nothing pending is flushed and the
// index is not rewritten.
func crash(c *Cache) {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	close(c.done)
	c.wg.Wait()
	c.flushMu.Lock()
	c.idx.Close()
	c.idx = nil
	c.flushMu.Unlock()
	c.lock.Close()
}

func readRange(t *testing.T, fetch FetchFunc, off, n int64) ([]byte, error) {
	t.Helper()
	rc, err := fetch(context.Background(), off, n)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	buf := make([]byte, n)
	_, err = io.ReadFull(rc, buf)
	return buf, err
}

func mustRead(t *testing.T, fetch FetchFunc, want []byte, off, n int64) {
	t.Helper()
	got, err := readRange(t, fetch, off, n)
	if err != nil {
		t.Fatalf("read %d+%d: %v", off, n, err)
	}
	if !bytes.Equal(got, want[off:off+n]) {
		t.Fatalf("read %d+%d: wrong bytes", off, n)
	}
}

func TestReadThroughAndPersist(t *testing.T) {
	dir := t.TempDir()
	o := newOrigin()
	data := o.add("id1", 1, 100_000)
	c := openCache(t, dir, 1<<20)
	f := c.Wrap("id1", int64(len(data)), "", o.fetch("id1"))
	mustRead(t, f, data, 0, int64(len(data)))
	if o.calls.Load() != 1 {
		t.Fatalf("first read: %d downloads, want 1", o.calls.Load())
	}
	mustRead(t, f, data, 5000, 50_000)
	mustRead(t, f, data, 0, int64(len(data)))
	if o.calls.Load() != 1 {
		t.Fatalf("cached reads downloaded: %d calls", o.calls.Load())
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c2 := openCache(t, dir, 1<<20)
	f2 := c2.Wrap("id1", int64(len(data)), "", o.fetch("id1"))
	mustRead(t, f2, data, 0, int64(len(data)))
	mustRead(t, f2, data, 99_999, 1)
	if o.calls.Load() != 1 {
		t.Fatalf("after reopen: %d downloads, want still 1", o.calls.Load())
	}
	for _, p := range []string{dir, filepath.Join(dir, "data")} {
		if st, _ := os.Stat(p); st.Mode().Perm() != 0o700 {
			t.Errorf("%s: mode %v, want 0700", p, st.Mode().Perm())
		}
	}
	ents, _ := os.ReadDir(filepath.Join(dir, "data"))
	for _, e := range append(ents, nil) {
		p := filepath.Join(dir, indexName)
		if e != nil {
			p = filepath.Join(dir, "data", e.Name())
		}
		if st, _ := os.Stat(p); st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", p, st.Mode().Perm())
		}
	}
}

func TestPartialRangesAndGaps(t *testing.T) {
	o := newOrigin()
	data := o.add("id", 2, 50_000)
	c := openCache(t, t.TempDir(), 1<<20)
	f := c.Wrap("id", int64(len(data)), "", o.fetch("id"))
	// Unaligned ranges: the blocks they touch are downloaded whole.
	mustRead(t, f, data, 4100, 100)
	mustRead(t, f, data, 20_000, 9000)
	calls := o.calls.Load()
	mustRead(t, f, data, 4096, 4096)
	mustRead(t, f, data, 20_480, 8192)
	if o.calls.Load() != calls {
		t.Fatalf("blocks of earlier ranges downloaded again")
	}
	// A range over cached and missing blocks: downloads only the gaps.
	b0 := o.bytes.Load()
	mustRead(t, f, data, 0, int64(len(data)))
	if got, want := o.bytes.Load()-b0, int64(len(data))-5*4096; got != want { // blocks 1 and 4..7 cached
		t.Errorf("downloaded %d bytes for the gaps, want %d", got, want)
	}
}

func TestCrashNeverServesUnrecorded(t *testing.T) {
	dir := t.TempDir()
	o := newOrigin()
	data := o.add("id", 3, 64*1024)
	c, err := Open(Options{Dir: dir, MaxSize: 1 << 20, BlockSize: 4096, SyncInterval: 1 << 40})
	if err != nil {
		t.Fatal(err)
	}
	c.syncWr = true
	f := c.Wrap("id", int64(len(data)), "", o.fetch("id"))
	mustRead(t, f, data, 0, 32*1024)
	c.flush()
	mustRead(t, f, data, 32*1024, 32*1024) // written, never recorded
	// The unrecorded half is garbled on disk, as after a crash before
	// the data reached the disk.
	crash(c)
	p := c.dataPath("id")
	garble(t, p, 40_000, 100)
	c2 := openCache(t, dir, 1<<20)
	if got := c2.Has("id"); got != 32*1024 {
		t.Fatalf("after crash: %d bytes cached, want the 32 KiB recorded", got)
	}
	f2 := c2.Wrap("id", int64(len(data)), "", o.fetch("id"))
	b0 := o.bytes.Load()
	mustRead(t, f2, data, 0, int64(len(data)))
	if got := o.bytes.Load() - b0; got != 32*1024 {
		t.Fatalf("downloaded %d, want the 32 KiB not recorded", got)
	}
}

func garble(t *testing.T, path string, off int64, n int) {
	t.Helper()
	fd, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	b := make([]byte, n)
	fd.ReadAt(b, off)
	for i := range b {
		b[i] ^= 0x5a
	}
	if _, err := fd.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func TestTornIndex(t *testing.T) {
	dir := t.TempDir()
	o := newOrigin()
	data := o.add("id", 4, 40_000)
	c := openCache(t, dir, 1<<20)
	mustRead(t, c.Wrap("id", 40_000, "", o.fetch("id")), data, 0, 40_000)
	c.Close()
	idx := filepath.Join(dir, indexName)
	b, _ := os.ReadFile(idx)
	lines := bytes.Count(b, []byte("\n"))
	// Cut the index in the middle of its last record and garble one
	// record in the middle.
	b = b[:len(b)-5]
	i := bytes.Index(b, []byte("\nB ")) + 1
	j := bytes.IndexByte(b[i:], '\n') + i
	k := bytes.Index(b[j+1:], []byte("\nB ")) + j + 2
	b[k+4] ^= 1 // a digit of the second B record after the first
	os.WriteFile(idx, b, 0o600)
	c2 := openCache(t, dir, 1<<20)
	has := c2.Has("id")
	if has <= 0 || has >= 40_000 {
		t.Fatalf("after a torn index (%d lines): %d bytes cached, want the records before the bad one", lines, has)
	}
	mustRead(t, c2.Wrap("id", 40_000, "", o.fetch("id")), data, 0, 40_000)
	if c2.Has("id") != 40_000 {
		t.Fatalf("refill: %d cached", c2.Has("id"))
	}
}

func TestCorruptBlocksRedownloaded(t *testing.T) {
	dir := t.TempDir()
	o := newOrigin()
	data := o.add("id", 5, 100_000)
	c := openCache(t, dir, 1<<20)
	mustRead(t, c.Wrap("id", 100_000, "", o.fetch("id")), data, 0, 100_000)
	c.Close()
	p := c.dataPath("id")
	garble(t, p, 10, 1)          // block 0
	garble(t, p, 50_000, 10_000) // blocks 12..14
	c2 := openCache(t, dir, 1<<20)
	f := c2.Wrap("id", 100_000, "", o.fetch("id"))
	b0 := o.bytes.Load()
	mustRead(t, f, data, 0, 100_000)
	if got := o.bytes.Load() - b0; got != 4*4096 {
		t.Errorf("re-downloaded %d bytes, want the 4 bad blocks", got)
	}
	if c2.Stats().Corrupt.Load() != 4 {
		t.Errorf("corrupt blocks counted: %d, want 4", c2.Stats().Corrupt.Load())
	}
	b0 = o.bytes.Load()
	mustRead(t, f, data, 0, 100_000)
	if o.bytes.Load() != b0 {
		t.Errorf("repaired blocks downloaded again")
	}
	// A data file cut short: the version is dropped at open.
	c2.Close()
	os.Truncate(p, 1000)
	c3 := openCache(t, dir, 1<<20)
	if c3.Has("id") != 0 {
		t.Errorf("truncated data file still cached")
	}
	mustRead(t, c3.Wrap("id", 100_000, "", o.fetch("id")), data, 0, 100_000)
}

// TestNeverServesUnverified: whatever happens to the files on disk
// (random garbling, truncation, index cuts) and however reads are cut, a
// read returns the origin's bytes or an error, never other bytes.
func TestNeverServesUnverified(t *testing.T) {
	dir := t.TempDir()
	o := newOrigin()
	r := rand.New(rand.NewPCG(7, 7))
	sizes := map[string]int{}
	for i := range 6 {
		id := fmt.Sprintf("id%d", i)
		sizes[id] = 1 + r.IntN(60_000)
		o.add(id, uint64(100+i), sizes[id])
	}
	for round := range 30 {
		c, err := Open(Options{Dir: dir, MaxSize: 150_000, BlockSize: 4096, SyncInterval: 1 << 40})
		if err != nil {
			t.Fatal(err)
		}
		c.syncWr = round%2 == 0 // odd rounds write in the background
		for range 20 {
			id := fmt.Sprintf("id%d", r.IntN(6))
			size := int64(sizes[id])
			off := r.Int64N(size)
			n := 1 + r.Int64N(size-off)
			if r.IntN(5) == 0 {
				o.failAt.Store(1 + r.Int64N(n))
			}
			got, err := readRange(t, c.Wrap(id, size, "", o.fetch(id)), off, n)
			o.failAt.Store(0)
			if err == nil && !bytes.Equal(got, o.files[id][off:off+n]) {
				t.Fatalf("round %d: %s %d+%d: wrong bytes served", round, id, off, n)
			}
			if r.IntN(4) == 0 {
				c.flush()
			}
		}
		if used, max := c.Used(); used > max {
			t.Fatalf("used %d > max %d", used, max)
		}
		if r.IntN(2) == 0 {
			crash(c)
		} else {
			c.Close()
		}
		// Damage something.
		ents, _ := os.ReadDir(filepath.Join(dir, "data"))
		if len(ents) > 0 {
			p := filepath.Join(dir, "data", ents[r.IntN(len(ents))].Name())
			st, _ := os.Stat(p)
			switch r.IntN(3) {
			case 0:
				if st.Size() > 0 {
					garble(t, p, r.Int64N(st.Size()), 1+r.IntN(5000))
				}
			case 1:
				os.Truncate(p, r.Int64N(st.Size()+1))
			}
		}
		if r.IntN(3) == 0 {
			idx := filepath.Join(dir, indexName)
			b, _ := os.ReadFile(idx)
			os.WriteFile(idx, b[:r.IntN(len(b)+1)], 0o600)
		}
	}
}

func TestBoundUnderLargerWorkload(t *testing.T) {
	dir := t.TempDir()
	o := newOrigin()
	const max = 200_000
	c := openCache(t, dir, max)
	for i := range 20 {
		id := fmt.Sprintf("f%d", i)
		data := o.add(id, uint64(i), 50_000)
		mustRead(t, c.Wrap(id, 50_000, "", o.fetch(id)), data, 0, 50_000)
		if used, _ := c.Used(); used > max {
			t.Fatalf("after %d files: %d bytes used > %d", i+1, used, max)
		}
		if d := diskUsage(t, filepath.Join(dir, "data")); d > max+20*4096 {
			t.Fatalf("after %d files: %d bytes on disk", i+1, d)
		}
	}
	// The most recent files are the ones kept.
	if c.Has("f19") != 50_000 || c.Has("f0") != 0 {
		t.Errorf("LRU: f19 %d bytes, f0 %d bytes", c.Has("f19"), c.Has("f0"))
	}
	// A file larger than the bound is served, partly cached.
	big := o.add("big", 99, 300_000)
	mustRead(t, c.Wrap("big", 300_000, "", o.fetch("big")), big, 0, 300_000)
	if used, _ := c.Used(); used > max {
		t.Fatalf("after a file larger than the bound: %d used", used)
	}
	c.Close()
	c2 := openCache(t, dir, max/2) // a smaller bound at the next start
	if used, _ := c2.Used(); used > max/2 {
		t.Fatalf("reopened with a smaller bound: %d used", used)
	}
}

func diskUsage(t *testing.T, dir string) int64 {
	ents, _ := os.ReadDir(dir)
	var n int64
	for _, e := range ents {
		var st syscall.Stat_t
		if syscall.Stat(filepath.Join(dir, e.Name()), &st) == nil {
			n += st.Blocks * 512
		}
	}
	return n
}

func TestFaultsNeverEvict(t *testing.T) {
	o := newOrigin()
	data := o.add("a", 1, 80_000)
	other := o.add("b", 2, 80_000)
	c := openCache(t, t.TempDir(), 100_000)
	mustRead(t, c.Wrap("a", 80_000, "", o.fetch("a")), data, 0, 80_000)
	o.failNow.Store(true)
	if _, err := readRange(t, c.Wrap("b", 80_000, "", o.fetch("b")), 0, 80_000); err == nil {
		t.Fatal("read with failing downloads succeeded")
	}
	o.failNow.Store(false)
	o.failAt.Store(10_000)
	if _, err := readRange(t, c.Wrap("b", 80_000, "", o.fetch("b")), 0, 80_000); err == nil {
		t.Fatal("read with a download cut short succeeded")
	}
	o.failAt.Store(0)
	if c.Has("a") != 80_000 {
		t.Fatalf("failed downloads evicted: a has %d bytes", c.Has("a"))
	}
	if c.Has("b") > 12*1024 {
		t.Fatalf("b: %d bytes cached from a download cut at 10000", c.Has("b"))
	}
	o.failNow.Store(true)
	mustRead(t, c.Wrap("a", 80_000, "", o.fetch("a")), data, 0, 80_000)
	o.failNow.Store(false)
	mustRead(t, c.Wrap("b", 80_000, "", o.fetch("b")), other, 0, 80_000)
}

func TestOpenCompleteAdoptAlias(t *testing.T) {
	dir := t.TempDir()
	o := newOrigin()
	data := o.add("id", 9, 30_000)
	sum := sha1.Sum(data)
	c := openCache(t, dir, 1<<20)
	if _, ok := c.OpenComplete("id", 30_000, ""); ok {
		t.Fatal("OpenComplete of an uncached file")
	}
	f := c.Wrap("id", 30_000, "", o.fetch("id"))
	mustRead(t, f, data, 0, 10_000)
	if _, ok := c.OpenComplete("id", 30_000, ""); ok {
		t.Fatal("OpenComplete of a partly cached file")
	}
	mustRead(t, f, data, 0, 30_000)
	fd, ok := c.OpenComplete("id", 30_000, hex.EncodeToString(sum[:]))
	if !ok {
		t.Fatal("OpenComplete of a cached file failed")
	}
	got, _ := io.ReadAll(fd)
	fd.Close()
	if !bytes.Equal(got, data) {
		t.Fatal("OpenComplete: wrong content")
	}
	// A wrong SHA-1 drops the version.
	if _, ok := c.OpenComplete("id", 30_000, strings.Repeat("1", 40)); ok || c.Has("id") != 0 {
		t.Fatal("OpenComplete with a wrong SHA-1 served the file")
	}
	mustRead(t, f, data, 0, 30_000)
	c.Close()
	// Corruption found by OpenComplete in the next run.
	garble(t, c.dataPath("id"), 20_000, 1)
	c = openCache(t, dir, 1<<20)
	if _, ok := c.OpenComplete("id", 30_000, ""); ok {
		t.Fatal("OpenComplete served a corrupted file")
	}
	mustRead(t, c.Wrap("id", 30_000, "", o.fetch("id")), data, 0, 30_000)
	if _, ok := c.OpenComplete("id", 30_000, ""); !ok {
		t.Fatal("OpenComplete after the repair failed")
	}

	// Adopt: a local copy becomes version "up".
	src := filepath.Join(t.TempDir(), "staged")
	up := o.add("up", 10, 70_000)
	os.WriteFile(src, up, 0o600)
	if !c.Adopt("up", 70_000, src) {
		t.Fatal("Adopt failed")
	}
	os.Remove(src)
	// Alias: "up2" is a server-side copy of "up"; "up" is gone.
	c.Alias("up", "up2")
	c.Close()
	c = openCache(t, dir, 1<<20)
	calls := o.calls.Load()
	mustRead(t, c.Wrap("up2", 70_000, "", o.fetch("up")), up, 0, 70_000)
	if o.calls.Load() != calls || c.Has("up") != 0 {
		t.Fatalf("adopted+aliased file: %d downloads, old id %d bytes", o.calls.Load()-calls, c.Has("up"))
	}
	if _, ok := c.OpenComplete("up2", 70_000, ""); !ok {
		t.Fatal("OpenComplete of an adopted file failed")
	}
}

func TestSecondProcessLocked(t *testing.T) {
	dir := t.TempDir()
	openCache(t, dir, 1<<20)
	if _, err := Open(Options{Dir: dir, MaxSize: 1 << 20}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
}

func TestConcurrentReaders(t *testing.T) {
	o := newOrigin()
	data := o.add("id", 11, 300_000)
	c := openCache(t, t.TempDir(), 1<<20)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 1))
			f := c.Wrap("id", 300_000, "", o.fetch("id"))
			for range 50 {
				off := r.Int64N(300_000)
				n := 1 + r.Int64N(300_000-off)
				got, err := readRange(t, f, off, n)
				if err != nil || !bytes.Equal(got, data[off:off+n]) {
					errs <- fmt.Errorf("%d+%d: %v", off, n, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestBackgroundWriter: blocks are written by the writer goroutine; all of
// them are in the cache once Close returns, and the next run reads none.
func TestBackgroundWriter(t *testing.T) {
	dir := t.TempDir()
	o := newOrigin()
	data := o.add("id", 12, 200_000)
	c, err := Open(Options{Dir: dir, MaxSize: 1 << 20, BlockSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	f := c.Wrap("id", 200_000, "", o.fetch("id"))
	for off := int64(0); off < 200_000; off += 20_000 {
		mustRead(t, f, data, off, 20_000)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c2 := openCache(t, dir, 1<<20)
	if got := c2.Has("id"); got != 200_000 {
		t.Fatalf("%d bytes cached of 200000 (%d blocks skipped)", got, c.Stats().Skipped.Load())
	}
	calls := o.calls.Load()
	mustRead(t, c2.Wrap("id", 200_000, "", o.fetch("id")), data, 0, 200_000)
	if o.calls.Load() != calls {
		t.Fatal("downloaded again after a clean close")
	}
}

// TestBackfillWhenWritersBehind: blocks the writers had no room for are
// downloaded again by the backfiller, so that a file read in full is
// cached in full; the next run downloads nothing.
func TestBackfillWhenWritersBehind(t *testing.T) {
	for _, atClose := range []bool{false, true} {
		dir := t.TempDir()
		o := newOrigin()
		const size = 300 * 4096
		data := o.add("id", 13, size)
		c, err := Open(Options{Dir: dir, MaxSize: 8 << 20, BlockSize: 4096})
		if err != nil {
			t.Fatal(err)
		}
		c.hold = 5 * time.Millisecond                                     // slow writers
		c.slowUntil.Store(time.Now().Add(time.Hour).UnixNano())           // every block through the queue
		mustRead(t, c.Wrap("id", size, "", o.fetch("id")), data, 0, size) // many times faster than the writers
		if c.Stats().Skipped.Load() == 0 {
			t.Fatal("no block was skipped: the test does not test the backfill")
		}
		if !atClose {
			deadline := time.Now().Add(20 * time.Second)
			for c.Has("id") != size && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			if c.Has("id") != size {
				t.Fatalf("%d of %d bytes cached 20s after the read", c.Has("id"), size)
			}
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		if s, b := c.Stats().Skipped.Load(), c.Stats().Backfilled.Load(); b != s {
			t.Errorf("atClose=%v: %d blocks skipped, %d backfilled", atClose, s, b)
		}
		c2 := openCache(t, dir, 8<<20)
		calls := o.calls.Load()
		mustRead(t, c2.Wrap("id", size, "", o.fetch("id")), data, 0, size)
		if o.calls.Load() != calls {
			t.Fatalf("atClose=%v: %d downloads after a restart", atClose, o.calls.Load()-calls)
		}
		c2.Close()
	}
}

// TestAdoptWhileDownloading adopts a local copy of a version while a
// reader downloads the same version: the reader's data file must not
// empty the adopted one (they share the version's path), and every
// adopted block must verify.
func TestAdoptWhileDownloading(t *testing.T) {
	o := newOrigin()
	c := openCache(t, t.TempDir(), 64<<20)
	srcDir := t.TempDir()
	for i := range 300 {
		id := fmt.Sprintf("v%d", i)
		size := 4096 + i%3*5000
		data := o.add(id, uint64(i), size)
		src := filepath.Join(srcDir, id)
		if err := os.WriteFile(src, data, 0o600); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); c.Adopt(id, int64(size), src) }()
		var rerr error
		go func() {
			defer wg.Done()
			got, err := readRange(t, c.Wrap(id, int64(size), "", o.fetch(id)), 0, int64(size))
			if err == nil && !bytes.Equal(got, data) {
				err = errors.New("wrong bytes")
			}
			rerr = err
		}()
		wg.Wait()
		if rerr != nil {
			t.Fatalf("%s: read while adopting: %v", id, rerr)
		}
		if got, err := os.ReadFile(src); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s: the adopted local copy changed (%d bytes, %v)", id, len(got), err)
		}
		mustRead(t, c.Wrap(id, int64(size), "", o.fetch(id)), data, 0, int64(size))
		if n := c.stats.Corrupt.Load(); n != 0 {
			t.Fatalf("%s: %d blocks failed verification", id, n)
		}
	}
}
