package cache

import (
	"strconv"
	"time"

	"github.com/b2fs/b2fs/b2client"
)

// File info is kept compactly: a listing holds one entry per name, and a
// map per entry cost more than everything else an entry holds together
// (about 350 bytes for the single src_last_modified_millis key most
// uploaders set). When every key of a file's info is one of the numeric
// keys below, written the way b2fs writes them, the entry keeps the numbers
// and no map; any other info is kept as the map it came in.

// The file info keys kept as numbers.
const (
	InfoModTime = b2client.InfoModTime // B2's standard key: ms since the epoch
	InfoMode    = "b2fs-mode"          // permission bits, octal
	InfoUID     = "b2fs-uid"           // decimal
	InfoGID     = "b2fs-gid"           // decimal
)

// Which numeric keys an entry's info holds (Entry.infoHas).
const (
	hasModTime uint8 = 1 << iota
	hasMode
	hasUID
	hasGID
)

// SetInfo records the file's B2 file info (nil or empty: none). The map is
// not modified; it is kept (so it must not be modified afterwards) unless
// every key is one of InfoModTime, InfoMode, InfoUID and InfoGID with a
// value in its canonical form, in which case only the numbers are kept.
func (e *Entry) SetInfo(m map[string]string) {
	e.infoMap, e.infoMtime, e.infoMode, e.infoUID, e.infoGID, e.infoHas = nil, 0, 0, 0, 0, 0
	if len(m) == 0 {
		return
	}
	var c Entry // the numbers, until a key turns out to need the map
	for k, v := range m {
		var ok bool
		switch k {
		case InfoModTime:
			c.infoMtime, ok = canonicalInt(v)
			c.infoHas |= hasModTime
		case InfoMode:
			c.infoMode, ok = canonicalUint(v, 8)
			ok = ok && c.infoMode <= 0o7777
			c.infoHas |= hasMode
		case InfoUID:
			c.infoUID, ok = canonicalUint(v, 10)
			c.infoHas |= hasUID
		case InfoGID:
			c.infoGID, ok = canonicalUint(v, 10)
			c.infoHas |= hasGID
		}
		if !ok {
			e.infoMap = m
			return
		}
	}
	e.infoMtime, e.infoMode, e.infoUID, e.infoGID, e.infoHas = c.infoMtime, c.infoMode, c.infoUID, c.infoGID, c.infoHas
}

func canonicalInt(v string) (int64, bool) {
	n, err := strconv.ParseInt(v, 10, 64)
	return n, err == nil && strconv.FormatInt(n, 10) == v
}

func canonicalUint(v string, base int) (uint32, bool) {
	n, err := strconv.ParseUint(v, base, 32)
	return uint32(n), err == nil && strconv.FormatUint(n, base) == v
}

// Info returns the file's B2 file info (nil when there is none). Treat it
// as read-only. When the entry keeps the info as numbers, each call builds
// a new map: readers of single keys use InfoValue, readers of the POSIX
// keys Numeric.
func (e Entry) Info() map[string]string {
	if e.infoMap != nil || e.infoHas == 0 {
		return e.infoMap
	}
	m := make(map[string]string, 4)
	for _, k := range [...]string{InfoModTime, InfoMode, InfoUID, InfoGID} {
		if v, ok := e.InfoValue(k); ok {
			m[k] = v
		}
	}
	return m
}

// InfoValue returns the value of one file info key.
func (e Entry) InfoValue(key string) (string, bool) {
	if e.infoMap != nil || e.infoHas == 0 {
		v, ok := e.infoMap[key]
		return v, ok
	}
	switch h := e.infoHas; {
	case key == InfoModTime && h&hasModTime != 0:
		return strconv.FormatInt(e.infoMtime, 10), true
	case key == InfoMode && h&hasMode != 0:
		return strconv.FormatUint(uint64(e.infoMode), 8), true
	case key == InfoUID && h&hasUID != 0:
		return strconv.FormatUint(uint64(e.infoUID), 10), true
	case key == InfoGID && h&hasGID != 0:
		return strconv.FormatUint(uint64(e.infoGID), 10), true
	}
	return "", false
}

// InfoLen returns the number of file info keys.
func (e Entry) InfoLen() int {
	if e.infoMap != nil || e.infoHas == 0 {
		return len(e.infoMap)
	}
	n := 0
	for h := e.infoHas; h != 0; h &= h - 1 {
		n++
	}
	return n
}

// Changed is the upload time of the version (B2's uploadTimestamp): the
// last change to the file made through B2, its ctime. Zero when unknown.
func (e Entry) Changed() time.Time {
	if e.changed == 0 {
		return time.Time{}
	}
	return time.Unix(0, e.changed)
}

// SetChanged sets what Changed returns (kept as an int64: a listing holds
// one entry per name).
func (e *Entry) SetChanged(t time.Time) {
	e.changed = 0
	if !t.IsZero() {
		e.changed = t.UnixNano()
	}
}

// Numeric is the file info of an entry that keeps it as numbers.
type Numeric struct {
	ModTime                             int64 // ms since the epoch
	Mode, UID, GID                      uint32
	HasModTime, HasMode, HasUID, HasGID bool
}

// Numeric returns the entry's file info as numbers; ok is false when the
// info has keys that are kept as strings (read those with Info or
// InfoValue). An entry without info returns a zero Numeric and ok.
func (e Entry) Numeric() (n Numeric, ok bool) {
	if e.infoMap != nil {
		return Numeric{}, false
	}
	h := e.infoHas
	return Numeric{
		ModTime: e.infoMtime, Mode: e.infoMode, UID: e.infoUID, GID: e.infoGID,
		HasModTime: h&hasModTime != 0, HasMode: h&hasMode != 0,
		HasUID: h&hasUID != 0, HasGID: h&hasGID != 0,
	}, true
}
