package b2client

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

const upperhex = "0123456789ABCDEF"

func isSafeByte(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~' || c == '/'
}

// PercentEncode encodes s for B2 headers (X-Bz-File-Name, X-Bz-Info-*),
// download-by-name paths and query values: A–Z a–z 0–9 - . _ ~ / are emitted
// literally, every other byte as %XX with upper-case hex (so "+" becomes %2B
// and a space %20). The result is valid under both of B2's decoders.
func PercentEncode(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if !isSafeByte(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isSafeByte(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(upperhex[c>>4])
		b.WriteByte(upperhex[c&15])
	}
	return b.String()
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// PercentDecode decodes a B2-encoded string: "+" is a space and %XX (either
// hex case) is a byte. A malformed escape or a result that is not valid UTF-8
// is an error.
func PercentDecode(s string) (string, error) {
	if !strings.ContainsAny(s, "%+") {
		if !utf8.ValidString(s) {
			return "", fmt.Errorf("%w: percent-decode: invalid UTF-8", ErrInvalidArgument)
		}
		return s, nil
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '+':
			b = append(b, ' ')
		case '%':
			if i+2 >= len(s) {
				return "", fmt.Errorf("%w: percent-decode %q: truncated escape", ErrInvalidArgument, s)
			}
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if !ok1 || !ok2 {
				return "", fmt.Errorf("%w: percent-decode %q: bad escape", ErrInvalidArgument, s)
			}
			b = append(b, hi<<4|lo)
			i += 2
		default:
			b = append(b, c)
		}
	}
	if !utf8.Valid(b) {
		return "", fmt.Errorf("%w: percent-decode %q: invalid UTF-8", ErrInvalidArgument, s)
	}
	return string(b), nil
}

// File info limits (reference §4.5).
const (
	MaxInfoEntries   = 10
	MaxInfoKeyLen    = 50
	MaxHeaderBudget  = 7000
	MaxFileNameBytes = 1024
	// InfoModTime is the file info key holding the source mtime in decimal
	// milliseconds since the epoch.
	InfoModTime = "src_last_modified_millis"
	// InfoLargeFileSHA1 is the file info key holding a large file's whole-file
	// SHA-1 (large files have contentSha1 "none").
	InfoLargeFileSHA1 = "large_file_sha1"
)

var reservedInfoKeys = map[string]bool{
	"b2-content-disposition": true,
	"b2-content-language":    true,
	"b2-expires":             true,
	"b2-cache-control":       true,
	"b2-content-encoding":    true,
}

func validInfoKeyByte(c byte) bool {
	if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' {
		return true
	}
	return strings.IndexByte("-_.~!#$%^&*'+|`", c) >= 0
}

// ValidateFileName checks the rules B2 enforces (and the legacy ones b2fs
// never violates): 1–1024 UTF-8 bytes, no control characters or DEL, no
// backslash, no leading or trailing "/", no "//", segments of at most 250
// bytes.
func ValidateFileName(name string) error {
	bad := func(why string) error {
		return fmt.Errorf("%w: file name %q: %s", ErrInvalidArgument, name, why)
	}
	switch {
	case name == "":
		return bad("empty")
	case len(name) > MaxFileNameBytes:
		return bad("longer than 1024 bytes")
	case !utf8.ValidString(name):
		return bad("not valid UTF-8")
	case strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/"):
		return bad("starts or ends with /")
	case strings.Contains(name, "//"):
		return bad("contains //")
	case strings.Contains(name, "\\"):
		return bad("contains a backslash")
	}
	for i := 0; i < len(name); i++ {
		if name[i] < 0x20 || name[i] == 0x7f {
			return bad("contains a control character")
		}
	}
	for _, seg := range strings.Split(name, "/") {
		if len(seg) > 250 {
			return bad("a segment is longer than 250 bytes")
		}
	}
	return nil
}

// buildInfo returns the file info to send for req: keys lower-cased,
// src_last_modified_millis from ModTime, validated against B2's limits.
// extra entries (e.g. large_file_sha1) are added before validation.
func buildInfo(name string, info map[string]string, mod time.Time, extra map[string]string) (map[string]string, error) {
	out := make(map[string]string, len(info)+2)
	for k, v := range info {
		lk := strings.ToLower(k)
		if _, dup := out[lk]; dup {
			return nil, fmt.Errorf("%w: file info key %q given twice (keys are case-insensitive)", ErrInvalidArgument, k)
		}
		out[lk] = v
	}
	if !mod.IsZero() {
		out[InfoModTime] = strconv.FormatInt(mod.UnixMilli(), 10)
	}
	for k, v := range extra {
		out[k] = v
	}
	if err := validateInfo(name, out); err != nil {
		return nil, err
	}
	return out, nil
}

func validateInfo(name string, info map[string]string) error {
	if len(info) > MaxInfoEntries {
		return fmt.Errorf("%w: %d file info entries (at most %d)", ErrInvalidArgument, len(info), MaxInfoEntries)
	}
	budget := len("X-Bz-File-Name: ") + len(PercentEncode(name)) + 2
	keys := make([]string, 0, len(info))
	for k := range info {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k == "" || len(k) > MaxInfoKeyLen {
			return fmt.Errorf("%w: file info key %q: length must be 1..%d", ErrInvalidArgument, k, MaxInfoKeyLen)
		}
		for i := 0; i < len(k); i++ {
			if !validInfoKeyByte(k[i]) {
				return fmt.Errorf("%w: file info key %q: invalid character %q", ErrInvalidArgument, k, k[i])
			}
		}
		if strings.HasPrefix(k, "b2-") && !reservedInfoKeys[k] {
			return fmt.Errorf("%w: file info key %q: the b2- prefix is reserved", ErrInvalidArgument, k)
		}
		if !utf8.ValidString(info[k]) {
			return fmt.Errorf("%w: file info %q: value is not valid UTF-8", ErrInvalidArgument, k)
		}
		budget += len("X-Bz-Info-") + len(k) + 2 + len(PercentEncode(info[k])) + 2
	}
	if budget > MaxHeaderBudget {
		return fmt.Errorf("%w: file name and info need %d header bytes (at most %d)", ErrInvalidArgument, budget, MaxHeaderBudget)
	}
	return nil
}
