package readcache

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
)

// OpenComplete returns version id (size bytes) opened read-only when every
// one of its blocks is cached. The first call for a version in a run reads
// the whole file and verifies every block (dropping the ones that fail, in
// which case it returns false), and, when sha1 is a B2 content SHA-1 not yet
// checked, the whole file against it (a mismatch drops the version). The
// caller closes the file.
func (c *Cache) OpenComplete(id string, size int64, sha1hex string) (*os.File, bool) {
	if c == nil || id == "" || size <= 0 {
		return nil, false
	}
	f := c.acquire(id, size, false)
	if f == nil {
		return nil, false
	}
	defer c.release(f)
	c.mu.Lock()
	n := (size + c.bs - 1) / c.bs
	complete := int64(len(f.blocks)) == n && !f.dropped
	verified := f.verified
	checkSHA := isSHA1(sha1hex) && f.sha1 != sha1hex
	c.mu.Unlock()
	if !complete {
		return nil, false
	}
	if !verified || checkSHA {
		if !c.verifyAll(f, n, checkSHA, sha1hex) {
			return nil, false
		}
	}
	fd, err := os.Open(f.path)
	if err != nil {
		return nil, false
	}
	return fd, true
}

// verifyChunk is how much verifyAll reads at once, verifyWorkers how many
// chunks it reads at the same time.
const (
	verifyChunk   = 1 << 20
	verifyWorkers = 2
)

// isSHA1 reports whether s is a SHA-1 in hex (B2 reports "none" for large
// files, and "unverified:<sha1>" for some).
func isSHA1(s string) bool {
	if len(s) != 40 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// verifyAll checks every block of f (and the SHA-1 when checkSHA),
// reading verifyChunk bytes per call, in verifyWorkers goroutines when the
// SHA-1 (which needs the bytes in order) is not checked.
func (c *Cache) verifyAll(f *file, n int64, checkSHA bool, want string) bool {
	per := max(1, verifyChunk/c.bs)
	chunks := (n + per - 1) / per
	h := sha1.New()
	workers := int64(verifyWorkers)
	if checkSHA {
		workers = 1
	}
	var bad atomic.Bool
	var wg sync.WaitGroup
	for w := int64(0); w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, per*c.bs)
			for ch := w; ch < chunks && !bad.Load(); ch += workers {
				i := ch * per
				k := min(per, n-i)
				p := buf[:min(f.size, (i+k)*c.bs)-i*c.bs]
				got, _ := f.fd.ReadAt(p, i*c.bs)
				for j := int64(0); j < k; j++ {
					b, ok := c.lookup(f, i+j)
					lo := j * c.bs
					if !ok || int64(got) < lo+int64(b.n) || checksum(p[lo:lo+int64(b.n)]) != b.crc {
						if ok {
							c.stats.Corrupt.Add(1)
							c.log.Warn("read cache: block failed verification; dropped", "file_id", f.id, "block", i+j)
							c.dropBlock(f, i+j, b)
						}
						bad.Store(true)
						return
					}
				}
				if checkSHA {
					h.Write(p)
				}
			}
		}()
	}
	wg.Wait()
	if bad.Load() {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if checkSHA {
		if got := hex.EncodeToString(h.Sum(nil)); got != want {
			c.stats.Corrupt.Add(1)
			c.log.Warn("read cache: cached file does not match its SHA-1; dropped", "file_id", f.id)
			c.dropLocked(f)
			return false
		}
		f.sha1 = want
		if f.recorded {
			c.queue = append(c.queue, fmt.Sprintf("S %s %s", f.id, want))
		}
	}
	f.verified = !f.dropped
	return f.verified
}

// Adopt takes the content of version id (size bytes) from path, a local
// copy this mount uploaded: the file is hard linked into the cache and
// every block checksummed. It returns false when the version is not cached
// (too large for the bound, or the link failed).
func (c *Cache) Adopt(id string, size int64, path string) bool {
	if c == nil || id == "" || size <= 0 {
		return false
	}
	c.mu.Lock()
	fits := size <= c.max && !c.closed
	c.mu.Unlock()
	if !fits {
		return false
	}
	fd, err := os.Open(path)
	if err != nil {
		return false
	}
	defer fd.Close()
	if st, err := fd.Stat(); err != nil || st.Size() != size {
		return false
	}
	n := (size + c.bs - 1) / c.bs
	blocks := make(map[int64]blockInfo, n)
	buf := getBuf(c.bs)
	defer putBuf(buf)
	for i := int64(0); i < n; i++ {
		b := buf[:c.blockLen(size, i)]
		if _, err := io.ReadFull(io.NewSectionReader(fd, i*c.bs, int64(len(b))), b); err != nil {
			return false
		}
		blocks[i] = blockInfo{n: int32(len(b)), crc: checksum(b)}
	}
	return c.link(id, size, path, blocks)
}

// link makes src the data file of version id with the given blocks.
func (c *Cache) link(id string, size int64, src string, blocks map[int64]blockInfo) bool {
	dst := c.dataPath(id)
	c.createMu.Lock() // nothing else is put at dst until nf is in files
	defer c.createMu.Unlock()
	c.Forget(id)
	os.Remove(dst)
	if err := os.Link(src, dst); err != nil {
		c.writeFailed(err)
		return false
	}
	rw, err := os.OpenFile(dst, os.O_RDWR, 0)
	if err != nil {
		os.Remove(dst)
		return false
	}
	os.Chmod(dst, 0o600)
	nf := &file{id: id, size: size, path: dst, fd: rw, blocks: map[int64]blockInfo{}}
	f := c.insert(nf)
	defer c.release(f)
	c.mu.Lock()
	defer c.mu.Unlock()
	if f != nf || f.dropped {
		return f == nf
	}
	var total int64
	for _, b := range blocks {
		total += int64(b.n)
	}
	if !c.evictLocked(f, total) {
		c.dropLocked(f)
		return false
	}
	for i, b := range blocks {
		b.recorded = false
		f.blocks[i] = b
		c.pending = append(c.pending, pendingBlock{f: f, idx: i})
	}
	f.bytes += total
	c.used += total
	c.pendN += total
	return true
}

// Alias records that version newID has the content of oldID (a
// server-side copy made by this mount: rename, metadata change). The old
// version's cached blocks serve the new one; oldID is dropped when
// dropOld is set (the old version is gone).
func (c *Cache) Alias(oldID, newID string, dropOld bool) {
	if c == nil || oldID == "" || newID == "" || oldID == newID {
		return
	}
	c.mu.Lock()
	f := c.files[oldID]
	if f == nil || f.dropped || len(f.blocks) == 0 {
		c.mu.Unlock()
		return
	}
	f.refs++
	size, path := f.size, f.path
	blocks := make(map[int64]blockInfo, len(f.blocks))
	for i, b := range f.blocks {
		blocks[i] = b
	}
	c.mu.Unlock()
	c.link(newID, size, path, blocks)
	c.release(f)
	if dropOld {
		c.Forget(oldID)
	}
}
