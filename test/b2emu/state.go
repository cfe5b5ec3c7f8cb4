package b2emu

import (
	"encoding/json"
	"os"
	"sort"
	"strings"
	"time"
)

// state is the metadata store. Every field is guarded by Server.mu.
type state struct {
	clockOffset time.Duration
	lastMillis  int64
	seq         uint64

	buckets     map[string]*bucket // by id
	bucketNames map[string]*bucket // by lower-cased name
	files       map[string]*fileVersion

	masterKey       *appKey
	keys            map[string]*appKey // non-master keys by id
	tokens          map[string]*accountToken
	uploadTokens    map[string]*uploadTarget
	uploadTokenAdds int
	dlTokens        map[string]*downloadAuth
}

func newState() *state {
	return &state{
		buckets:      map[string]*bucket{},
		bucketNames:  map[string]*bucket{},
		files:        map[string]*fileVersion{},
		keys:         map[string]*appKey{},
		tokens:       map[string]*accountToken{},
		uploadTokens: map[string]*uploadTarget{},
		dlTokens:     map[string]*downloadAuth{},
	}
}

type bucket struct {
	ID        string            `json:"id"`
	Name      string            `json:"name"`
	Type      string            `json:"type"`
	Info      map[string]string `json:"info"`
	CORS      json.RawMessage   `json:"cors,omitempty"`
	Lifecycle json.RawMessage   `json:"lifecycle,omitempty"`
	Revision  int64             `json:"revision"`
	FileLock  bool              `json:"fileLock,omitempty"`
	SSE       json.RawMessage   `json:"sse,omitempty"`

	names      nameIndex             // sorted by name (raw bytes)
	byName     map[string]*nameEntry // same entries
	unfinished []*fileVersion        // unfinished large files, oldest first
	versions   int                   // every stored version incl. hide markers and starts
}

func (b *bucket) init() {
	b.byName = map[string]*nameEntry{}
	if b.Info == nil {
		b.Info = map[string]string{}
	}
}

// nameEntry holds every version of one name, sorted by file id, which sorts
// newest first.
type nameEntry struct {
	name     string
	versions []*fileVersion
}

// part is one uploaded part of a large file.
type part struct {
	Number int    `json:"n"`
	Blob   string `json:"blob"`
	Size   int64  `json:"size"`
	SHA1   string `json:"sha1"`
	MD5    string `json:"md5"`
	TS     int64  `json:"ts"`
}

// fileVersion is one stored version: an upload (simple or finished large
// file), a hide marker or an unfinished large file (action "start").
type fileVersion struct {
	ID          string            `json:"id"`
	Seq         uint64            `json:"seq"`
	BucketID    string            `json:"bucket"`
	Name        string            `json:"name"`
	Action      string            `json:"action"` // upload, hide, start
	ContentType string            `json:"ctype"`
	Size        int64             `json:"size"`
	SHA1        string            `json:"sha1"` // hex, "none" or "unverified:<hex>"
	MD5         string            `json:"md5"`  // "" = null
	Info        map[string]string `json:"info"`
	TS          int64             `json:"ts"`
	Blob        string            `json:"blob,omitempty"` // simple uploads: blob file name
	Large       bool              `json:"large,omitempty"`
	PartOrder   []int             `json:"partOrder,omitempty"` // finished large file: parts in order
	SSE         string            `json:"sse,omitempty"`

	added   int64         // emulator ms when it entered the store (listing lag)
	parts   map[int]*part // large files
	readers int           // downloads/copies streaming this version
	deleted bool          // removed from the index; blobs go when readers reach 0
}

// segments returns the blob files making up the version's content.
func (f *fileVersion) segments() []segment {
	if f.Large {
		segs := make([]segment, 0, len(f.PartOrder))
		for _, n := range f.PartOrder {
			if p := f.parts[n]; p != nil {
				segs = append(segs, segment{blob: p.Blob, size: p.Size})
			}
		}
		return segs
	}
	if f.Blob == "" {
		return nil
	}
	return []segment{{blob: f.Blob, size: f.Size}}
}

// blobs returns every blob file the version owns.
func (f *fileVersion) blobs() []string {
	var out []string
	if f.Blob != "" {
		out = append(out, f.Blob)
	}
	for _, p := range f.parts {
		out = append(out, p.Blob)
	}
	return out
}

type segment struct {
	blob string
	size int64
}

// insert adds a version to the bucket's index.
func (b *bucket) insert(f *fileVersion) {
	e := b.byName[f.Name]
	if e == nil {
		e = &nameEntry{name: f.Name}
		b.names.insert(e)
		b.byName[f.Name] = e
	}
	j := sort.Search(len(e.versions), func(i int) bool { return e.versions[i].ID >= f.ID })
	e.versions = append(e.versions, nil)
	copy(e.versions[j+1:], e.versions[j:])
	e.versions[j] = f
	b.versions++
	if f.added == 0 {
		f.added = f.TS
	}
	if f.Action == "start" {
		b.unfinished = append(b.unfinished, f)
	}
}

// remove drops a version from the bucket's index.
func (b *bucket) remove(f *fileVersion) {
	e := b.byName[f.Name]
	if e == nil {
		return
	}
	for j, v := range e.versions {
		if v == f {
			e.versions = append(e.versions[:j], e.versions[j+1:]...)
			b.versions--
			break
		}
	}
	if len(e.versions) == 0 {
		b.names.remove(e)
		delete(b.byName, f.Name)
	}
	b.dropUnfinished(f)
}

func (b *bucket) dropUnfinished(f *fileVersion) {
	for i, u := range b.unfinished {
		if u == f {
			b.unfinished = append(b.unfinished[:i], b.unfinished[i+1:]...)
			return
		}
	}
}

// current returns the version that decides visibility of a name: the newest
// version that is not an unfinished large file.
func (e *nameEntry) current() *fileVersion {
	for _, v := range e.versions {
		if v.Action != "start" {
			return v
		}
	}
	return nil
}

func (e *nameEntry) visible() bool {
	c := e.current()
	return c != nil && c.Action == "upload"
}

// listedCurrent is current() as listings see it: versions added after
// cutoff (emulator ms) are not yet listed.
func (e *nameEntry) listedCurrent(cutoff int64) *fileVersion {
	for _, v := range e.versions {
		if v.Action != "start" && v.added <= cutoff {
			return v
		}
	}
	return nil
}

func (e *nameEntry) listedVisible(cutoff int64) bool {
	c := e.listedCurrent(cutoff)
	return c != nil && c.Action == "upload"
}

// folderEnd is the smallest string greater than every name under folder
// (folder with its final byte incremented).
func folderEnd(folder string) string {
	b := []byte(folder)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1])
		}
	}
	return folder + "\xff"
}

// rollUp returns the folder name a name rolls up to, or "".
func rollUp(name, prefix, delim string) string {
	if delim == "" || !strings.HasPrefix(name, prefix) {
		return ""
	}
	i := strings.Index(name[len(prefix):], delim)
	if i < 0 {
		return ""
	}
	return name[:len(prefix)+i+len(delim)]
}

// removeBlobs deletes blob files that belong to no reader any more.
func (s *Server) removeBlobs(names []string) {
	for _, n := range names {
		if n != "" {
			_ = os.Remove(s.blobPath(n))
		}
	}
}

func (s *Server) blobPath(name string) string { return s.blobDir + "/" + name }

// dropVersion removes a version from the store and (unless a reader still
// streams it) its blobs. Callers hold s.mu.
func (s *Server) dropVersion(b *bucket, f *fileVersion) {
	b.remove(f)
	delete(s.st.files, f.ID)
	f.deleted = true
	if f.readers == 0 {
		s.removeBlobs(f.blobs())
	}
	s.journalWrite(&record{T: "filedel", ID: f.ID})
}

// acquire marks f as being read; release undoes it and removes the blobs of
// a version deleted meanwhile.
func (s *Server) acquire(f *fileVersion) { f.readers++ }

func (s *Server) release(f *fileVersion) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f.readers--
	if f.readers == 0 && f.deleted {
		s.removeBlobs(f.blobs())
	}
}
