// Package posixmeta is how b2fs keeps POSIX metadata in B2 file info:
// the keys and their encoding (mode, owner, symlink targets, special files,
// extended attributes), and B2's limits on file info. It knows nothing of
// the kernel or of B2 calls.
package posixmeta

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/b2fs/b2fs/b2client"
	"github.com/b2fs/b2fs/cache"
	"github.com/b2fs/b2fs/fs/errs"
)

// POSIX metadata lives in each file's B2 fileInfo, so listings carry it and
// ls -l, find and stat need no per-file call. The keys (B2 lower-cases
// keys; all of these are lower case already):
//
//	b2fs-mode    permission bits in octal (e.g. "644", "4755")
//	b2fs-uid     owner, decimal
//	b2fs-gid     group, decimal
//	src_last_modified_millis  mtime, ms since the epoch (B2's standard key)
//	b2fs-type    "symlink" for symbolic links (the body is the target)
//	b2fs-target  the symlink target, escaped (see EscapeBytes), when it fits
//	b2fs-x-NAME  extended attribute user.NAME, value escaped
//	b2fs-xh-HASH extended attribute whose name does not fit a key; the
//	             value is escaped(NAME) "=" escaped(VALUE)
//
// Directories keep theirs on their .bzEmpty marker.
const (
	InfoMode   = cache.InfoMode
	InfoUID    = cache.InfoUID
	InfoGID    = cache.InfoGID
	InfoType   = "b2fs-type"
	InfoTarget = "b2fs-target"

	TypeSymlink = "symlink"

	XattrKeyPrefix  = "b2fs-x-"
	XattrHashPrefix = "b2fs-xh-"
	XattrUser       = "user."
)

// B2's file info limits.
const (
	MaxInfoEntries = b2client.MaxInfoEntries
	MaxInfoBytes   = b2client.MaxHeaderBudget
	MaxInfoKeyLen  = b2client.MaxInfoKeyLen
	// MaxSymlinkLen bounds a symlink target (PATH_MAX).
	MaxSymlinkLen = 4096
)

// Errors for metadata that does not fit B2's limits.
var (
	ErrInfoFull = errs.ErrNoSpace     // all entries or the 7,000-byte budget used
	ErrInfoBig  = errs.ErrValueTooBig // one value can never fit
)

// Meta is the POSIX metadata found in a file info map.
type Meta struct {
	Mode      uint32 // permission bits (07777)
	UID, GID  uint32
	HasMode   bool
	HasUID    bool
	HasGID    bool
	Symlink   bool
	Target    string
	HasTarget bool
	Invalid   []string // keys whose values could not be read
}

// Parse returns the POSIX metadata recorded in info.
func Parse(info map[string]string) Meta {
	var m Meta
	if v, ok := info[InfoMode]; ok {
		if n, err := strconv.ParseUint(v, 8, 32); err == nil && n <= 0o7777 {
			m.Mode, m.HasMode = uint32(n), true
		} else {
			m.Invalid = append(m.Invalid, InfoMode)
		}
	}
	if v, ok := info[InfoUID]; ok {
		if n, err := strconv.ParseUint(v, 10, 32); err == nil {
			m.UID, m.HasUID = uint32(n), true
		} else {
			m.Invalid = append(m.Invalid, InfoUID)
		}
	}
	if v, ok := info[InfoGID]; ok {
		if n, err := strconv.ParseUint(v, 10, 32); err == nil {
			m.GID, m.HasGID = uint32(n), true
		} else {
			m.Invalid = append(m.Invalid, InfoGID)
		}
	}
	if info[InfoType] == TypeSymlink {
		m.Symlink = true
		if v, ok := info[InfoTarget]; ok {
			if t, err := UnescapeBytes(v); err == nil && t != "" {
				m.Target, m.HasTarget = t, true
			}
		}
	}
	return m
}

// ParseEntry returns the POSIX metadata of a cache entry's file info,
// without building a map when the entry keeps its info as numbers.
func ParseEntry(e cache.Entry) Meta {
	n, ok := e.Numeric()
	if !ok {
		return Parse(e.Info())
	}
	return Meta{Mode: n.Mode, UID: n.UID, GID: n.GID, HasMode: n.HasMode, HasUID: n.HasUID, HasGID: n.HasGID}
}

// IsSymlink reports whether a cache entry is a symbolic link.
func IsSymlink(e cache.Entry) bool {
	if e.Dir {
		return false
	}
	t, _ := e.InfoValue(InfoType)
	return t == TypeSymlink
}

// EntryType returns the S_IFMT bits of the inode for e.
func EntryType(e cache.Entry) uint32 {
	if e.Dir {
		return syscall.S_IFDIR
	}
	t, ok := e.InfoValue(InfoType)
	switch {
	case !ok:
		return syscall.S_IFREG
	case t == TypeSymlink:
		return syscall.S_IFLNK
	}
	if m := specialType(t); m != 0 {
		return m
	}
	return syscall.S_IFREG
}

// SetOwnerMode records mode bits and owner in info.
func SetOwnerMode(info map[string]string, mode, uid, gid uint32) {
	info[InfoMode] = strconv.FormatUint(uint64(mode&0o7777), 8)
	info[InfoUID] = strconv.FormatUint(uint64(uid), 10)
	info[InfoGID] = strconv.FormatUint(uint64(gid), 10)
}

// EscapeBytes turns arbitrary bytes into printable ASCII: bytes outside
// 0x21-0x7e, '%' and '=' become %XX. The result is valid UTF-8 for B2.
func EscapeBytes(s string) string {
	const hexd = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= 0x20 || c >= 0x7f || c == '%' || c == '=' {
			b.WriteByte('%')
			b.WriteByte(hexd[c>>4])
			b.WriteByte(hexd[c&15])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

var errBadEscape = errors.New("bad escape")

// UnescapeBytes reverses EscapeBytes.
func UnescapeBytes(s string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			out = append(out, s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", errBadEscape
		}
		v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil {
			return "", errBadEscape
		}
		out = append(out, byte(v))
		i += 2
	}
	return string(out), nil
}

// keyChar reports whether c may appear in a B2 file info key as stored
// (lower case: B2 lower-cases keys, so upper-case letters would not
// survive).
func keyChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-_.~!#$%^&*'+|`", c) >= 0
}

// XattrKey returns the info key of the user xattr called name (without
// "user."), and whether the value carries the name (hashed key).
func XattrKey(name string) (key string, hashed bool) {
	direct := len(XattrKeyPrefix)+len(name) <= MaxInfoKeyLen && name != ""
	for i := 0; direct && i < len(name); i++ {
		direct = keyChar(name[i])
	}
	if direct {
		return XattrKeyPrefix + name, false
	}
	sum := sha256.Sum256([]byte(name))
	return XattrHashPrefix + hex.EncodeToString(sum[:16]), true
}

// XattrValue encodes the info value of xattr name.
func XattrValue(name string, value []byte, hashed bool) string {
	if hashed {
		return EscapeBytes(name) + "=" + EscapeBytes(string(value))
	}
	return EscapeBytes(string(value))
}

// GetXattr finds user xattr name (without "user.") in info.
func GetXattr(info map[string]string, name string) ([]byte, bool) {
	key, hashed := XattrKey(name)
	v, ok := info[key]
	if !ok {
		return nil, false
	}
	if hashed {
		n, val, found := strings.Cut(v, "=")
		if !found {
			return nil, false
		}
		if dn, err := UnescapeBytes(n); err != nil || dn != name {
			return nil, false
		}
		v = val
	}
	b, err := UnescapeBytes(v)
	if err != nil {
		return nil, false
	}
	return []byte(b), true
}

// ListXattrs returns the full names ("user.x") of the xattrs in info,
// sorted.
func ListXattrs(info map[string]string) []string {
	var out []string
	for k, v := range info {
		switch {
		case strings.HasPrefix(k, XattrKeyPrefix):
			// Only what GetXattr can read back (values written by other
			// tools may not decode).
			name := k[len(XattrKeyPrefix):]
			if _, ok := GetXattr(info, name); ok {
				out = append(out, XattrUser+name)
			}
		case strings.HasPrefix(k, XattrHashPrefix):
			n, _, ok := strings.Cut(v, "=")
			if !ok {
				continue
			}
			if dn, err := UnescapeBytes(n); err == nil {
				if _, ok := GetXattr(info, dn); ok {
					out = append(out, XattrUser+dn)
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

// InfoBytes is the size of the header lines B2 counts against its 7,000
// bytes for name and info: X-Bz-File-Name plus one X-Bz-Info-* per entry,
// values percent-encoded.
func InfoBytes(name string, info map[string]string) int { return b2client.InfoHeaderBytes(name, info) }

// CheckInfoFits reports whether info (the complete info of file name) stays
// within B2's limits once every upload adds its own keys: the mtime and, for
// large files, large_file_sha1 (room for both is always kept). It returns
// E2BIG when entry alone can never fit, ENOSPC otherwise.
func CheckInfoFits(name string, info map[string]string, entry string) error {
	full := make(map[string]string, len(info)+2)
	for k, v := range info {
		full[k] = v
	}
	if _, ok := full[b2client.InfoModTime]; !ok {
		full[b2client.InfoModTime] = "1700000000000"
	}
	if _, ok := full[b2client.InfoLargeFileSHA1]; !ok {
		full[b2client.InfoLargeFileSHA1] = strings.Repeat("0", 40)
	}
	if len(full) <= MaxInfoEntries && InfoBytes(name, full) <= MaxInfoBytes {
		return nil
	}
	if entry != "" {
		alone := map[string]string{entry: info[entry], b2client.InfoModTime: full[b2client.InfoModTime],
			b2client.InfoLargeFileSHA1: full[b2client.InfoLargeFileSHA1]}
		if InfoBytes(name, alone) > MaxInfoBytes {
			return ErrInfoBig
		}
	}
	return ErrInfoFull
}

// InfoEqual compares two info maps.
func InfoEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func CloneInfo(m map[string]string) map[string]string {
	out := make(map[string]string, len(m)+4)
	for k, v := range m {
		out[k] = v
	}
	return out
}
