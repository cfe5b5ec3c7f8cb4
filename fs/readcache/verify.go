package readcache

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Whole-file verification and the verified marker.
//
// A version whose every block is cached is handed to the kernel (FUSE
// passthrough) only once all its blocks are known good, since the kernel
// then reads the data file without b2fs checking anything. A version is
// known good ("verified") when, in this run:
//
//   - its blocks were all written (or read and checked) in this run, their
//     CRC-32C computed from the downloaded bytes, and, when B2 has the
//     version's SHA-1 (content SHA-1 or large_file_sha1), the whole file
//     matched it (the sealer does this in the background as soon as the
//     last block is recorded); or
//   - the whole data file was read and every block checked against its
//     CRC-32C (and the SHA-1 when known); or
//   - its C record names the data file's current stamp (below).
//
// The stamp of a data file is its inode number, mtime and ctime
// (nanoseconds). It is recorded (C record) when the file is verified, so
// that a later run trusts the verification without reading the file
// again: a data file changed in any way through the file system since
// (a write, a truncate, even a write followed by restoring the mtime)
// has another mtime or ctime, and is read and checked in full before it
// is handed to the kernel again. The stamps of verified files are taken
// again at Close (the hard links b2fs itself makes and removes change a
// file's ctime), but only where the inode and mtime are unchanged.

// stamp identifies the state of a data file (see above).
type stamp struct {
	ino          uint64
	mtime, ctime int64
}

func (s stamp) zero() bool { return s == stamp{} }

func fstamp(fd *os.File) (stamp, bool) {
	var st syscall.Stat_t
	if fd == nil || syscall.Fstat(int(fd.Fd()), &st) != nil {
		return stamp{}, false
	}
	return stamp{ino: st.Ino, mtime: st.Mtim.Nano(), ctime: st.Ctim.Nano()}, true
}

// ValidSHA1 returns s when it is a SHA-1 in hex that can be checked, ""
// otherwise: B2 reports "none" for large files and "unverified:<sha1>"
// for some, and b2fs writes 40 zeros as a placeholder for a
// large_file_sha1 not known yet.
func ValidSHA1(s string) string {
	if len(s) != 40 || s == strings.Repeat("0", 40) {
		return ""
	}
	if _, err := hex.DecodeString(s); err != nil {
		return ""
	}
	return strings.ToLower(s)
}

// OpenComplete returns version id (size bytes) opened read-only when every
// one of its blocks is cached and verified (see above): the first call for
// a version that is not verified yet reads the whole file and checks every
// block (dropping the ones that fail, in which case it returns false), and
// the whole file against sha1hex when that is a B2 SHA-1 not checked yet
// (a mismatch drops the version). The caller closes the file.
func (c *Cache) OpenComplete(id string, size int64, sha1hex string) (*os.File, bool) {
	if c == nil || id == "" || size <= 0 {
		return nil, false
	}
	f := c.acquire(id, size, false)
	if f == nil {
		return nil, false
	}
	defer c.release(f)
	want := ValidSHA1(sha1hex)
	c.mu.Lock()
	n := c.nblocks(size)
	complete := int64(len(f.blocks)) == n && !f.dropped
	if want != "" {
		f.want = want
	}
	verified := f.verified
	checkSHA := want != "" && f.sha1 != want
	st := f.stamp
	c.mu.Unlock()
	if !complete {
		return nil, false
	}
	if !verified && !checkSHA && !st.zero() {
		if now, ok := fstamp(f.fd); ok && now == st {
			c.mu.Lock()
			f.verified = !f.dropped && f.stamp == st
			verified = f.verified
			c.mu.Unlock()
		}
	}
	if !verified || checkSHA {
		now, _ := fstamp(f.fd)
		c.log.Debug("read cache: verifying a whole file before passthrough", "file_id", id, "check_sha1", checkSHA, "marker", st, "now", now)
	}
	if (!verified || checkSHA) && !c.verifyAll(f, n, checkSHA, want, nil) {
		return nil, false
	}
	fd, err := os.Open(f.path)
	if err != nil {
		return nil, false
	}
	c.stats.WholeOpens.Add(1)
	return fd, true
}

func (c *Cache) nblocks(size int64) int64 { return (size + c.bs - 1) / c.bs }

// verifyChunk is how much verifyAll reads at once, verifyWorkers how many
// chunks it reads at the same time.
const (
	verifyChunk   = 1 << 20
	verifyWorkers = 2
)

// verifyAll checks every block of f (and the SHA-1 when checkSHA),
// reading verifyChunk bytes per call, in verifyWorkers goroutines when the
// SHA-1 (which needs the bytes in order) is not checked. It gives up
// (false, nothing dropped) when stop returns true. On success f is
// verified and its stamp recorded.
func (c *Cache) verifyAll(f *file, n int64, checkSHA bool, want string, stop func() bool) bool {
	synced := f.fd.Sync() == nil // before the marker: see flush
	before, _ := fstamp(f.fd)
	per := max(1, verifyChunk/c.bs)
	chunks := (n + per - 1) / per
	h := sha1.New()
	workers := int64(verifyWorkers)
	if checkSHA {
		workers = 1
	}
	var bad, stopped atomic.Bool
	var wg sync.WaitGroup
	for w := int64(0); w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, per*c.bs)
			for ch := w; ch < chunks && !bad.Load() && !stopped.Load(); ch += workers {
				if stop != nil && stop() {
					stopped.Store(true)
					return
				}
				i := ch * per
				k := min(per, n-i)
				p := buf[:min(f.size, (i+k)*c.bs)-i*c.bs]
				got, _ := f.fd.ReadAt(p, i*c.bs)
				c.stats.VerifiedBytes.Add(int64(got))
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
	if bad.Load() || stopped.Load() {
		return false
	}
	after, _ := fstamp(f.fd)
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
	if f.dropped {
		return false
	}
	c.markVerifiedLocked(f, before, synced && before == after)
	return true
}

// markVerifiedLocked records that every block of f is good, and, with
// record (the data file was fsynced, and st taken after), that it was so
// at stamp st (C record).
func (c *Cache) markVerifiedLocked(f *file, st stamp, record bool) {
	f.verified = true
	if !record || st.zero() {
		return
	}
	f.stamp, f.synced = st, true
	if f.recorded {
		c.queue = append(c.queue, cRecord(f))
	}
}

func cRecord(f *file) string {
	return fmt.Sprintf("C %s %d %d %d", f.id, f.stamp.ino, f.stamp.mtime, f.stamp.ctime)
}

// sealQueue bounds the versions waiting for the sealer; a version that
// does not fit is verified at its first OpenComplete instead.
const sealQueue = 64

// queueSealsLocked hands the versions among fs that are complete, recorded
// and not verified to the sealer. c.mu is held.
func (c *Cache) queueSealsLocked(fs map[*file]bool) {
	for f := range fs {
		if f.verified || f.sealing || f.dropped || int64(len(f.blocks)) != c.nblocks(f.size) {
			continue
		}
		all := true
		for _, b := range f.blocks {
			if !b.recorded {
				all = false
				break
			}
		}
		if !all {
			continue
		}
		f.refs++
		f.sealing = true
		select {
		case c.sealQ <- f:
		default:
			f.refs--
			f.sealing = false
		}
	}
}

// sealer verifies versions as their last block is recorded (see above).
func (c *Cache) sealer() {
	defer c.wg.Done()
	for {
		select {
		case f := <-c.sealQ:
			c.seal(f)
		case <-c.done:
			return
		}
	}
}

// sealPending seals what is still queued (Close), within Close's time.
func (c *Cache) sealPending() {
	for {
		select {
		case f := <-c.sealQ:
			c.seal(f)
		default:
			return
		}
	}
}

// stopping reports whether Close has waited long enough for the sealer.
func (c *Cache) stopping() bool {
	d := c.closeBy.Load()
	return d != 0 && time.Now().UnixNano() > d
}

// seal verifies f (queued by queueSealsLocked, holding a reference): by
// construction when every block was written or checked in this run and no
// SHA-1 is known, else by reading it.
func (c *Cache) seal(f *file) {
	defer c.release(f)
	c.mu.Lock()
	f.sealing = false
	n := c.nblocks(f.size)
	checkSHA := f.want != "" && f.sha1 != f.want
	if f.dropped || int64(len(f.blocks)) != n || (f.verified && !checkSHA) {
		c.mu.Unlock()
		return
	}
	fresh := true
	for _, b := range f.blocks {
		if !b.fresh {
			fresh = false
			break
		}
	}
	want := f.want
	c.mu.Unlock()
	if fresh && !checkSHA {
		synced := f.fd.Sync() == nil
		st, ok := fstamp(f.fd)
		c.mu.Lock()
		if !f.dropped && int64(len(f.blocks)) == n {
			c.markVerifiedLocked(f, st, ok && synced)
		}
		c.mu.Unlock()
		return
	}
	c.verifyAll(f, n, checkSHA, want, c.stopping)
}

// restamp takes the stamps of verified files again (Close): b2fs's own
// hard links and renames change a data file's ctime, and files adopted
// from the staging area have not been fsynced yet. A file whose inode or
// mtime changed loses its stamp (and is checked in full next time), as
// does one that cannot be fsynced before Close's time is up.
func (c *Cache) restamp() {
	c.mu.Lock()
	var fs []*file
	for _, f := range c.files {
		if f.verified && !f.stamp.zero() && !f.dropped {
			f.refs++
			fs = append(fs, f)
		}
	}
	c.mu.Unlock()
	for _, f := range fs {
		c.mu.Lock()
		old, synced := f.stamp, f.synced
		c.mu.Unlock()
		st, ok := fstamp(f.fd)
		if ok && st == old && synced {
			c.release(f)
			continue
		}
		if ok && !synced && !c.stopping() {
			synced = f.fd.Sync() == nil
			st, ok = fstamp(f.fd)
		}
		c.mu.Lock()
		if ok && synced && st.ino == old.ino && st.mtime == old.mtime && f.stamp == old {
			f.stamp, f.synced = st, true
		} else if f.stamp == old {
			f.stamp, f.synced = stamp{}, false
		}
		c.mu.Unlock()
		c.release(f)
	}
}
