package b2emu

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
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

// openJournal replays path into st, rewrites it compacted and opens it for
// appending.
func openJournal(path string, st *state) (*journal, error) {
	if err := replay(path, st); err != nil {
		return nil, err
	}
	for _, b := range st.buckets {
		sort.Slice(b.unfinished, func(i, j int) bool { return b.unfinished[i].Seq < b.unfinished[j].Seq })
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

func replay(path string, st *state) error {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	line := 0
	for sc.Scan() {
		line++
		var r record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			// A torn last line after a crash is expected; stop there.
			break
		}
		apply(st, &r)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("journal line %d: %w", line, err)
	}
	return nil
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
