package readcache

import (
	"io"
	"os"
)

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
		blocks[i] = blockInfo{n: int32(len(b)), crc: checksum(b), fresh: true}
	}
	return c.link(id, size, path, blocks, false, nil)
}

// link makes src the data file of version id with the given blocks
// (checked when they were computed: fresh), by hard link (Adopt) or, with
// move, by rename (Alias: src is the data file of a version being
// dropped). verified, sha1 and want carry what is known of the content.
func (c *Cache) link(id string, size int64, src string, blocks map[int64]blockInfo, move bool, from *file) bool {
	dst := c.dataPath(id)
	c.createMu.Lock() // nothing else is put at dst until nf is in files
	defer c.createMu.Unlock()
	c.Forget(id)
	os.Remove(dst)
	var err error
	if move {
		err = os.Rename(src, dst)
	} else {
		err = os.Link(src, dst)
	}
	if err != nil {
		if move {
			os.Remove(src)
		}
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
	if from == nil {
		// Adopt: every block was just checksummed from the file.
		// Its C record is written at Close: the caller's removal of src
		// changes the ctime (restampLocked).
		f.verified = true
		f.stamp, _ = fstamp(rw)
	} else if from.verified {
		f.verified, f.stamp, f.synced = true, from.stamp, from.synced
		f.sha1, f.want = from.sha1, from.want
	}
	return true
}

// Alias records that version newID has the content of oldID (a
// server-side copy made by this mount: rename, metadata change), and that
// oldID is gone: the old version's data file becomes the new one's
// (renamed, so that no data file is counted twice against the bound).
func (c *Cache) Alias(oldID, newID string) {
	if c == nil || oldID == "" || newID == "" || oldID == newID {
		return
	}
	c.mu.Lock()
	f := c.files[oldID]
	if f == nil || f.dropped || len(f.blocks) == 0 {
		c.mu.Unlock()
		return
	}
	size, path := f.size, f.path
	blocks := make(map[int64]blockInfo, len(f.blocks))
	for i, b := range f.blocks {
		blocks[i] = b
	}
	moved := *f // what is known of the content, for link
	// Dropped without removing its data file, which link renames: the
	// bytes leave the accounting here and come back under newID.
	f.dropped = true
	delete(c.files, f.id)
	c.lru.Remove(f.el)
	c.used -= f.bytes
	if f.recorded {
		c.queue = append(c.queue, "D "+f.id)
	}
	if f.refs == 0 && f.fd != nil {
		f.fd.Close()
		f.fd = nil
	}
	c.mu.Unlock()
	c.link(newID, size, path, blocks, true, &moved)
}
