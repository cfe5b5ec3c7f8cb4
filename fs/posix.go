package fs

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
	"github.com/b2fs/b2fs/fs/staging"
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
//	b2fs-target  the symlink target, escaped (see escapeBytes), when it fits
//	b2fs-x-NAME  extended attribute user.NAME, value escaped
//	b2fs-xh-HASH extended attribute whose name does not fit a key; the
//	             value is escaped(NAME) "=" escaped(VALUE)
//
// Directories keep theirs on their .bzEmpty marker.
const (
	InfoMode   = "b2fs-mode"
	InfoUID    = "b2fs-uid"
	InfoGID    = "b2fs-gid"
	InfoType   = "b2fs-type"
	InfoTarget = "b2fs-target"

	typeSymlink = "symlink"

	xattrKeyPrefix  = "b2fs-x-"
	xattrHashPrefix = "b2fs-xh-"
	xattrUser       = "user."
)

// B2's file info limits.
const (
	maxInfoEntries = 10
	maxInfoBytes   = 7000
	maxInfoKeyLen  = 50
	// maxSymlinkLen bounds a symlink target (PATH_MAX).
	maxSymlinkLen = 4096
)

// Errors for metadata that does not fit B2's limits.
var (
	errInfoFull = syscall.ENOSPC // all entries or the 7,000-byte budget used
	errInfoBig  = syscall.E2BIG  // one value can never fit
)

// posixMeta is the POSIX metadata found in a file info map.
type posixMeta struct {
	mode          uint32 // permission bits (07777)
	uid, gid      uint32
	hasMode       bool
	hasUID        bool
	hasGID        bool
	symlink       bool
	target        string
	hasTarget     bool
	invalidFields []string
}

func parseMeta(info map[string]string) posixMeta {
	var m posixMeta
	if v, ok := info[InfoMode]; ok {
		if n, err := strconv.ParseUint(v, 8, 32); err == nil && n <= 0o7777 {
			m.mode, m.hasMode = uint32(n), true
		} else {
			m.invalidFields = append(m.invalidFields, InfoMode)
		}
	}
	if v, ok := info[InfoUID]; ok {
		if n, err := strconv.ParseUint(v, 10, 32); err == nil {
			m.uid, m.hasUID = uint32(n), true
		} else {
			m.invalidFields = append(m.invalidFields, InfoUID)
		}
	}
	if v, ok := info[InfoGID]; ok {
		if n, err := strconv.ParseUint(v, 10, 32); err == nil {
			m.gid, m.hasGID = uint32(n), true
		} else {
			m.invalidFields = append(m.invalidFields, InfoGID)
		}
	}
	if info[InfoType] == typeSymlink {
		m.symlink = true
		if v, ok := info[InfoTarget]; ok {
			if t, err := unescapeBytes(v); err == nil && t != "" {
				m.target, m.hasTarget = t, true
			}
		}
	}
	return m
}

// isSymlink reports whether a cache entry is a symbolic link.
func isSymlink(e cache.Entry) bool { return !e.Dir && e.Info[InfoType] == typeSymlink }

// entryType returns the S_IFMT bits of the inode for e.
func entryType(e cache.Entry) uint32 {
	switch {
	case e.Dir:
		return syscall.S_IFDIR
	case isSymlink(e):
		return syscall.S_IFLNK
	case specialMode(e.Info) != 0:
		return specialMode(e.Info)
	}
	return syscall.S_IFREG
}

// setOwnerMode records mode bits and owner in info.
func setOwnerMode(info map[string]string, mode, uid, gid uint32) {
	info[InfoMode] = strconv.FormatUint(uint64(mode&0o7777), 8)
	info[InfoUID] = strconv.FormatUint(uint64(uid), 10)
	info[InfoGID] = strconv.FormatUint(uint64(gid), 10)
}

// escapeBytes turns arbitrary bytes into printable ASCII: bytes outside
// 0x21-0x7e, '%' and '=' become %XX. The result is valid UTF-8 for B2.
func escapeBytes(s string) string {
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

// unescapeBytes reverses escapeBytes.
func unescapeBytes(s string) (string, error) {
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

// xattrKey returns the info key of the user xattr called name (without
// "user."), and whether the value carries the name (hashed key).
func xattrKey(name string) (key string, hashed bool) {
	direct := len(xattrKeyPrefix)+len(name) <= maxInfoKeyLen && name != ""
	for i := 0; direct && i < len(name); i++ {
		direct = keyChar(name[i])
	}
	if direct {
		return xattrKeyPrefix + name, false
	}
	sum := sha256.Sum256([]byte(name))
	return xattrHashPrefix + hex.EncodeToString(sum[:16]), true
}

// xattrValue encodes the info value of xattr name.
func xattrValue(name string, value []byte, hashed bool) string {
	if hashed {
		return escapeBytes(name) + "=" + escapeBytes(string(value))
	}
	return escapeBytes(string(value))
}

// getXattr finds user xattr name (without "user.") in info.
func getXattr(info map[string]string, name string) ([]byte, bool) {
	key, hashed := xattrKey(name)
	v, ok := info[key]
	if !ok {
		return nil, false
	}
	if hashed {
		n, val, found := strings.Cut(v, "=")
		if !found {
			return nil, false
		}
		if dn, err := unescapeBytes(n); err != nil || dn != name {
			return nil, false
		}
		v = val
	}
	b, err := unescapeBytes(v)
	if err != nil {
		return nil, false
	}
	return []byte(b), true
}

// listXattrs returns the full names ("user.x") of the xattrs in info,
// sorted.
func listXattrs(info map[string]string) []string {
	var out []string
	for k, v := range info {
		switch {
		case strings.HasPrefix(k, xattrKeyPrefix):
			// Only what getXattr can read back (values written by other
			// tools may not decode).
			name := k[len(xattrKeyPrefix):]
			if _, ok := getXattr(info, name); ok {
				out = append(out, xattrUser+name)
			}
		case strings.HasPrefix(k, xattrHashPrefix):
			n, _, ok := strings.Cut(v, "=")
			if !ok {
				continue
			}
			if dn, err := unescapeBytes(n); err == nil {
				if _, ok := getXattr(info, dn); ok {
					out = append(out, xattrUser+dn)
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

// infoBytes is the size of the header lines B2 counts against its 7,000
// bytes for name and info: X-Bz-File-Name plus one X-Bz-Info-* per entry,
// values percent-encoded.
func infoBytes(name string, info map[string]string) int {
	n := len("X-Bz-File-Name: ") + len(b2client.PercentEncode(name)) + 2
	for k, v := range info {
		n += len("X-Bz-Info-") + len(k) + 2 + len(b2client.PercentEncode(v)) + 2
	}
	return n
}

// checkInfoFits reports whether info (the complete info of file name) stays
// within B2's limits once every upload adds its own keys: the mtime and, for
// large files, large_file_sha1 (room for both is always kept). It returns
// E2BIG when entry alone can never fit, ENOSPC otherwise.
func checkInfoFits(name string, info map[string]string, entry string) syscall.Errno {
	full := make(map[string]string, len(info)+2)
	for k, v := range info {
		full[k] = v
	}
	if _, ok := full[staging.InfoMtime]; !ok {
		full[staging.InfoMtime] = "1700000000000"
	}
	if _, ok := full[staging.InfoLargeFileSHA]; !ok {
		full[staging.InfoLargeFileSHA] = strings.Repeat("0", 40)
	}
	if len(full) <= maxInfoEntries && infoBytes(name, full) <= maxInfoBytes {
		return 0
	}
	if entry != "" {
		alone := map[string]string{entry: info[entry], staging.InfoMtime: full[staging.InfoMtime],
			staging.InfoLargeFileSHA: full[staging.InfoLargeFileSHA]}
		if infoBytes(name, alone) > maxInfoBytes {
			return errInfoBig
		}
	}
	return errInfoFull
}

// infoEqual compares two info maps.
func infoEqual(a, b map[string]string) bool {
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

func cloneInfo(m map[string]string) map[string]string {
	out := make(map[string]string, len(m)+4)
	for k, v := range m {
		out[k] = v
	}
	return out
}
