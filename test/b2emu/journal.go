package b2emu

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"time"
)

// record is one line of the metadata journal.
type record struct {
	T      string       `json:"t"` // bucket, bucketdel, file, filedel, part, key, keydel, clock
	ID     string       `json:"id,omitempty"`
	Bucket *bucket      `json:"b,omitempty"`
	File   *fileVersion `json:"f,omitempty"`
	Part   *part        `json:"p,omitempty"`
	Key    *appKey      `json:"k,omitempty"`
	Offset int64        `json:"off,omitempty"`
}

// journal is an append-only JSON-lines log of metadata changes, compacted to
// a snapshot of the current state each time it is opened.
type journal struct {
	path string
	f    *os.File
	w    *bufio.Writer
	err  error
}

// openJournal replays path into st and opens it for appending. A journal
// that holds records the current state no longer needs (superseded or
// deleted ones, a torn last line) is first rewritten compacted; one that
// is already a snapshot (as a long list of uploads leaves it) is kept as
// it is, so that a big store starts in the time its replay takes.
func openJournal(path string, st *state) (*journal, error) {
	compact, err := replay(path, st)
	if err != nil {
		return nil, err
	}
	for _, b := range st.buckets {
		sort.Slice(b.unfinished, func(i, j int) bool { return b.unfinished[i].Seq < b.unfinished[j].Seq })
	}
	if compact {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return nil, fmt.Errorf("journal: %w", err)
		}
		return &journal{path: path, f: f, w: bufio.NewWriterSize(f, 1<<16)}, nil
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	j := &journal{path: path, f: f, w: bufio.NewWriterSize(f, 1<<16)}
	snapshot(j, st)
	if err := j.w.Flush(); err != nil {
		f.Close()
		return nil, fmt.Errorf("journal: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		f.Close()
		return nil, fmt.Errorf("journal: %w", err)
	}
	return j, nil
}

func snapshot(j *journal, st *state) {
	if st.clockOffset != 0 {
		j.write(&record{T: "clock", Offset: int64(st.clockOffset)})
	}
	ids := make([]string, 0, len(st.buckets))
	for id := range st.buckets {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		b := st.buckets[id]
		j.write(&record{T: "bucket", Bucket: b})
		b.names.each(func(e *nameEntry) {
			for i := len(e.versions) - 1; i >= 0; i-- {
				f := e.versions[i]
				j.write(&record{T: "file", File: f})
				nums := make([]int, 0, len(f.parts))
				for n := range f.parts {
					nums = append(nums, n)
				}
				sort.Ints(nums)
				for _, n := range nums {
					j.write(&record{T: "part", ID: f.ID, Part: f.parts[n]})
				}
			}
		})
	}
	for _, k := range st.keys {
		j.write(&record{T: "key", Key: k})
	}
}

// replay applies the journal at path to st. compact reports whether the
// journal holds nothing but what a snapshot of the resulting state would
// (no record superseded, deleted or dropped, no torn line), so that it can
// be appended to as it is. Lines are decoded on every core, in batches,
// and applied in order.
func replay(path string, st *state) (compact bool, err error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("journal: %w", err)
	}
	defer f.Close()
	// The store being rebuilt is all live data: collecting it while it
	// grows would only cost time.
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	type batch struct {
		buf  []byte // the batch's lines, newline-terminated
		recs []record
		bad  bool // a line did not decode: recs stops before it
		// unterminated: the last line has no newline
		unterminated bool
		ready        chan struct{}
	}
	workers := max(1, runtime.GOMAXPROCS(0))
	todo := make(chan *batch, workers)
	inOrder := make(chan *batch, 2*workers)
	stop := make(chan struct{})
	var readErr error
	go func() { // reader: cuts the file into batches of whole lines
		defer close(todo)
		defer close(inOrder)
		r := bufio.NewReaderSize(f, 1<<20)
		for {
			select {
			case <-stop:
				return
			default:
			}
			b := &batch{buf: make([]byte, 0, replayBatchBytes+4096), ready: make(chan struct{})}
			for len(b.buf) < replayBatchBytes {
				line, err := r.ReadSlice('\n')
				b.buf = append(b.buf, line...)
				if err == bufio.ErrBufferFull {
					continue
				}
				if err != nil {
					if err != io.EOF {
						readErr = err
					}
					break
				}
			}
			if len(b.buf) == 0 {
				return
			}
			last := len(b.buf) < replayBatchBytes // end of file (or a read error)
			select {
			case inOrder <- b:
			case <-stop:
				return
			}
			todo <- b
			if last {
				return
			}
		}
	}()
	for range workers {
		go func() {
			for b := range todo {
				rest := b.buf
				for len(rest) > 0 {
					line := rest
					if i := bytes.IndexByte(rest, '\n'); i >= 0 {
						line, rest = rest[:i], rest[i+1:]
					} else {
						rest = nil
						b.unterminated = true // rewritten, so that appends start a line
					}
					var r record
					if err := json.Unmarshal(line, &r); err != nil {
						b.bad = true
						break
					}
					b.recs = append(b.recs, r)
				}
				b.buf = nil
				close(b.ready)
			}
		}()
	}
	rp := &replayer{st: st, compact: true}
	torn := false // nothing after this point is applied
	for b := range inOrder {
		if torn {
			continue // drain
		}
		<-b.ready
		for i := range b.recs {
			rp.apply(&b.recs[i])
		}
		if b.bad || b.unterminated {
			// A torn last line after a crash is expected; stop there.
			torn = true
			close(stop)
			for range todo {
			}
		}
	}
	if readErr != nil {
		return false, fmt.Errorf("journal: %w", readErr)
	}
	return rp.compact && !torn, nil
}

// replayBatchBytes is the size of one batch of journal lines decoded
// together.
const replayBatchBytes = 1 << 20

// replayer applies journal records and notes whether any of them made an
// earlier one (or itself) redundant.
type replayer struct {
	st      *state
	compact bool
	clock   bool
}

func (rp *replayer) apply(r *record) {
	st := rp.st
	switch r.T {
	case "clock":
		rp.compact = rp.compact && !rp.clock
		rp.clock = true
	case "bucket":
		rp.compact = rp.compact && r.Bucket != nil && st.buckets[r.Bucket.ID] == nil
	case "file":
		rp.compact = rp.compact && r.File != nil && st.files[r.File.ID] == nil && st.buckets[r.File.BucketID] != nil
	case "part":
		rp.compact = rp.compact && r.Part != nil && st.files[r.ID] != nil && st.files[r.ID].parts[r.Part.Number] == nil
	case "key":
		rp.compact = rp.compact && r.Key != nil && st.keys[r.Key.ID] == nil
	default: // deletions, and records this version does not know
		rp.compact = false
	}
	apply(st, r)
}

func apply(st *state, r *record) {
	switch r.T {
	case "clock":
		st.clockOffset = time.Duration(r.Offset)
	case "bucket":
		if r.Bucket == nil {
			return
		}
		if old := st.buckets[r.Bucket.ID]; old != nil {
			old.Name, old.Type, old.Info, old.CORS = r.Bucket.Name, r.Bucket.Type, r.Bucket.Info, r.Bucket.CORS
			old.Lifecycle, old.Revision, old.FileLock, old.SSE = r.Bucket.Lifecycle, r.Bucket.Revision, r.Bucket.FileLock, r.Bucket.SSE
			if old.Info == nil {
				old.Info = map[string]string{}
			}
			return
		}
		b := r.Bucket
		b.init()
		st.buckets[b.ID] = b
		st.bucketNames[strings.ToLower(b.Name)] = b
	case "bucketdel":
		if b := st.buckets[r.ID]; b != nil {
			delete(st.buckets, r.ID)
			delete(st.bucketNames, strings.ToLower(b.Name))
		}
	case "file":
		f := r.File
		if f == nil {
			return
		}
		if f.Seq > st.seq {
			st.seq = f.Seq
		}
		if f.TS > st.lastMillis {
			st.lastMillis = f.TS
		}
		if f.Info == nil {
			f.Info = map[string]string{}
		}
		b := st.buckets[f.BucketID]
		if b == nil {
			return
		}
		if old := st.files[f.ID]; old != nil {
			// finish of a large file: keep the parts, take the new state
			f.parts = old.parts
			wasStart := old.Action == "start"
			*old = *f
			if wasStart && old.Action != "start" {
				b.dropUnfinished(old)
			}
			return
		}
		if f.Large && f.parts == nil {
			f.parts = map[int]*part{}
		}
		st.files[f.ID] = f
		b.insert(f)
	case "filedel":
		if f := st.files[r.ID]; f != nil {
			if b := st.buckets[f.BucketID]; b != nil {
				b.remove(f)
			}
			delete(st.files, r.ID)
		}
	case "part":
		if f := st.files[r.ID]; f != nil && r.Part != nil {
			if f.parts == nil {
				f.parts = map[int]*part{}
			}
			f.parts[r.Part.Number] = r.Part
		}
	case "key":
		if r.Key != nil {
			st.keys[r.Key.ID] = r.Key
			if id := r.Key.ID; len(id) > 11 {
				if n, err := strconv.ParseUint(id[len(id)-11:], 10, 64); err == nil && n > st.seq {
					st.seq = n
				}
			}
		}
	case "keydel":
		delete(st.keys, r.ID)
	}
}

func (j *journal) write(r *record) {
	if j.err != nil {
		return
	}
	b, err := json.Marshal(r)
	if err != nil {
		j.err = err
		return
	}
	b = append(b, '\n')
	if _, err := j.w.Write(b); err != nil {
		j.err = err
	}
}

func (j *journal) close() error {
	err := j.w.Flush()
	if cerr := j.f.Close(); err == nil {
		err = cerr
	}
	if j.err != nil {
		return j.err
	}
	return err
}

// journalWrite appends a record and flushes it to the OS (no fsync).
// Callers hold s.mu.
func (s *Server) journalWrite(r *record) {
	if s.journal == nil {
		return
	}
	s.journal.write(r)
	if err := s.journal.w.Flush(); err != nil && s.journal.err == nil {
		s.journal.err = err
	}
	if s.journal.err != nil {
		s.log.Error("b2emu: journal write failed", "err", s.journal.err)
	}
}

func (s *Server) journalBucket(b *bucket) { s.journalWrite(&record{T: "bucket", Bucket: b}) }
func (s *Server) journalFile(f *fileVersion) {
	s.journalWrite(&record{T: "file", File: f})
}
