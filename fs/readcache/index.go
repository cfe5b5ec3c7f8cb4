package readcache

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The index is a text log, one record per line:
//
//	<record> <crc>
//
// where <crc> is the CRC-32C of <record> in 8 lowercase hex digits.
// Records:
//
//	V 1 <blocksize>                    first line: format version, block size
//	F <id> <size>                      version <id> of <size> bytes is cached
//	B <id> <block> <len> <crc>         block <block> (<len> bytes, CRC-32C
//	                                   <crc> in hex) is stored and fsynced
//	X <id> <block>                     block dropped (failed verification)
//	S <id> <sha1>                      the whole file was verified against
//	                                   its B2 SHA-1
//	C <id> <ino> <mtime> <ctime>       every block was verified while the
//	                                   data file had this inode number,
//	                                   mtime and ctime (ns; verify.go)
//	D <id>                             version dropped (evicted, forgotten)
//
// Replay stops at the first line that does not parse or fails its checksum
// (a torn write at a crash); everything before it is kept. A B record
// without an F record, or for a block past the size, is ignored. At Open
// the live state is written to index.new, fsynced, renamed over index and
// the directory fsynced. The order of F records is the LRU order (least
// recent first).

const indexName = "index"

func line(rec string) string {
	return fmt.Sprintf("%s %08x\n", rec, checksum([]byte(rec)))
}

func parseLine(l string) (string, bool) {
	i := strings.LastIndexByte(l, ' ')
	if i < 0 {
		return "", false
	}
	sum, err := strconv.ParseUint(l[i+1:], 16, 32)
	if err != nil || len(l)-i-1 != 8 || uint32(sum) != checksum([]byte(l[:i])) {
		return "", false
	}
	return l[:i], true
}

// load replays the index, drops what it cannot trust, writes the compacted
// index and opens it for appending.
func (c *Cache) load() error {
	path := filepath.Join(c.opts.Dir, indexName)
	data, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("readcache: %w", err)
	}
	type rfile struct {
		f     *file
		order int
	}
	files := map[string]*rfile{}
	order := 0
	valid := false
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 4096), 1<<20)
	for first := true; sc.Scan(); first = false {
		rec, ok := parseLine(sc.Text())
		if !ok {
			break
		}
		fl := strings.Fields(rec)
		if first {
			valid = len(fl) == 3 && fl[0] == "V" && fl[1] == "1" && fl[2] == strconv.FormatInt(c.bs, 10)
			if !valid {
				break
			}
			continue
		}
		bad := false
		num := func(s string) int64 {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || n < 0 {
				bad = true
			}
			return n
		}
		switch {
		case fl[0] == "F" && len(fl) == 3:
			size := num(fl[2])
			if bad || size == 0 {
				break
			}
			order++
			if rf := files[fl[1]]; rf != nil && rf.f.size == size {
				rf.order = order
				break
			}
			files[fl[1]] = &rfile{f: &file{id: fl[1], size: size, blocks: map[int64]blockInfo{}}, order: order}
		case fl[0] == "B" && len(fl) == 5:
			rf := files[fl[1]]
			i, n := num(fl[2]), num(fl[3])
			crc, err := strconv.ParseUint(fl[4], 16, 32)
			if bad || err != nil || rf == nil || n != c.blockLen(rf.f.size, i) || n <= 0 {
				break
			}
			if old, ok := rf.f.blocks[i]; ok {
				rf.f.bytes -= int64(old.n)
			}
			rf.f.blocks[i] = blockInfo{n: int32(n), crc: uint32(crc), recorded: true}
			rf.f.bytes += n
			rf.f.stamp = stamp{} // verified before this block was stored
		case fl[0] == "X" && len(fl) == 3:
			if rf := files[fl[1]]; rf != nil {
				i := num(fl[2])
				if old, ok := rf.f.blocks[i]; ok && !bad {
					rf.f.bytes -= int64(old.n)
					delete(rf.f.blocks, i)
					rf.f.stamp = stamp{}
				}
			}
		case fl[0] == "S" && len(fl) == 3:
			if rf := files[fl[1]]; rf != nil {
				rf.f.sha1 = fl[2]
			}
		case fl[0] == "C" && len(fl) == 5:
			if rf := files[fl[1]]; rf != nil {
				ino, err := strconv.ParseUint(fl[2], 10, 64)
				mt, ct := num(fl[3]), num(fl[4])
				if err == nil && !bad {
					rf.f.stamp = stamp{ino: ino, mtime: mt, ctime: ct}
					rf.f.synced = true
				}
			}
		case fl[0] == "D" && len(fl) == 2:
			delete(files, fl[1])
		}
	}
	if !valid && len(data) > 0 {
		c.log.Warn("read cache: index of another format; emptied", "dir", c.opts.Dir)
		files = map[string]*rfile{}
	}
	// Check the data files; remove the ones the index does not name.
	keep := map[string]bool{}
	var live []*rfile
	for _, rf := range files {
		f := rf.f
		f.path = c.dataPath(f.id)
		fd, err := os.OpenFile(f.path, os.O_RDWR, 0)
		if err != nil || len(f.blocks) == 0 {
			if fd != nil {
				fd.Close()
			}
			continue
		}
		if st, err := fd.Stat(); err != nil || st.Size() != f.size {
			fd.Close()
			continue
		}
		f.fd = fd
		f.recorded = true
		keep[filepath.Base(f.path)] = true
		live = append(live, rf)
	}
	if ents, err := os.ReadDir(filepath.Join(c.opts.Dir, "data")); err == nil {
		for _, e := range ents {
			if !keep[e.Name()] {
				os.Remove(filepath.Join(c.opts.Dir, "data", e.Name()))
			}
		}
	}
	// Least recent first, so that PushFront leaves the most recent in front.
	sort.Slice(live, func(i, j int) bool { return live[i].order < live[j].order })
	for _, rf := range live {
		f := rf.f
		f.el = c.lru.PushFront(f)
		c.files[f.id] = f
		c.used += f.bytes
	}
	if err := c.rewriteLocked(); err != nil {
		return err
	}
	c.idx, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("readcache: %w", err)
	}
	return nil
}

// rewriteLocked writes the recorded state (files least recently used
// first) to a new index and renames it over the old one. Called at Open
// and at Close, when no flush can run.
func (c *Cache) rewriteLocked() error {
	path := filepath.Join(c.opts.Dir, indexName)
	var buf bytes.Buffer
	buf.WriteString(line(fmt.Sprintf("V 1 %d", c.bs)))
	for el := c.lru.Back(); el != nil; el = el.Prev() {
		if f := el.Value.(*file); f.recorded {
			writeFile(&buf, f)
		}
	}
	tmp := path + ".new"
	if err := writeSync(tmp, buf.Bytes()); err != nil {
		return fmt.Errorf("readcache: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("readcache: %w", err)
	}
	syncDir(c.opts.Dir)
	return nil
}

// writeFile writes f's F record, its blocks and its S record.
func writeFile(buf *bytes.Buffer, f *file) {
	buf.WriteString(line(fmt.Sprintf("F %s %d", f.id, f.size)))
	for i, b := range f.blocks {
		if !b.recorded {
			continue
		}
		buf.WriteString(line(fmt.Sprintf("B %s %d %d %08x", f.id, i, b.n, b.crc)))
	}
	if f.sha1 != "" {
		buf.WriteString(line(fmt.Sprintf("S %s %s", f.id, f.sha1)))
	}
	if !f.stamp.zero() && f.synced {
		buf.WriteString(line(cRecord(f)))
	}
}

func writeSync(path string, data []byte) error {
	fd, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = fd.Write(data)
	if err == nil {
		err = fd.Sync()
	}
	if cerr := fd.Close(); err == nil {
		err = cerr
	}
	return err
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// flusher records pending blocks every SyncInterval, or sooner when a lot
// is pending.
func (c *Cache) flusher() {
	defer c.wg.Done()
	t := time.NewTicker(c.opts.SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
		case <-c.kick:
		}
		if err := c.flush(); err != nil {
			c.log.Warn("read cache: index write failed", "err", err)
		}
	}
}

// flush appends the records of pending blocks (and queued D, X, S and C
// records) to the index and fsyncs it. It does not wait for the blocks'
// data to reach the disk: an fsync, or any writeback, of a file being
// filled holds up the writes into it for up to hundreds of milliseconds
// on a busy disk (ext4 allocates its blocks then). A block whose data a
// power loss took is found by its CRC-32C, like any other damage. Only the
// verified marker (C record), which lets passthrough skip that check, is
// written after an fsync of the data file (verify.go).
func (c *Cache) flush() error {
	c.flushMu.Lock()
	defer c.flushMu.Unlock()
	c.mu.Lock()
	pend := c.pending
	c.pending, c.pendN = nil, 0
	synced := map[*file]bool{} // files with pending blocks (not fsynced: see above)
	for _, p := range pend {
		if !p.f.dropped {
			synced[p.f] = true
		}
	}
	var buf bytes.Buffer
	for _, r := range c.queue {
		buf.WriteString(line(r))
	}
	c.queue = nil
	for _, p := range pend {
		f := p.f
		b, ok := f.blocks[p.idx]
		if !ok || f.dropped || b.recorded || !synced[f] {
			continue
		}
		if !f.recorded {
			buf.WriteString(line(fmt.Sprintf("F %s %d", f.id, f.size)))
			f.recorded = true
		}
		buf.WriteString(line(fmt.Sprintf("B %s %d %d %08x", f.id, p.idx, b.n, b.crc)))
		b.recorded = true
		f.blocks[p.idx] = b
	}
	c.queueSealsLocked(synced)
	c.mu.Unlock()
	if buf.Len() == 0 || c.idx == nil {
		return nil
	}
	if _, err := c.idx.Write(buf.Bytes()); err != nil {
		return err
	}
	return c.idx.Sync()
}
