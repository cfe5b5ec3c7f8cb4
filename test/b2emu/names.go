package b2emu

import (
	"mime"
	"net/http"
	"path"
	"strings"
	"unicode/utf8"
)

// validateFileName applies the file-name rules: the confirmed ones always,
// the legacy ones (backslash, slash placement, 250-byte segments) unless
// relaxed.
func validateFileName(name string, relaxed bool) *apiErr {
	if name == "" {
		return badRequest("File names must contain at least one character")
	}
	if len(name) > 1024 {
		return badRequest("File names must be no more than 1024 bytes")
	}
	if !utf8.ValidString(name) {
		return badRequest("File names must be valid UTF-8")
	}
	for i := 0; i < len(name); i++ {
		if name[i] < 32 {
			return badRequest("File names must not contain unicode characters with codes less than 32")
		}
		if name[i] == 0x7f {
			return badRequest("File names must not contain DEL")
		}
	}
	if relaxed {
		return nil
	}
	if strings.Contains(name, `\`) {
		return badRequest(`File names must not contain '\'`)
	}
	if strings.HasPrefix(name, "/") {
		return badRequest("File names must not start with '/'")
	}
	if strings.HasSuffix(name, "/") {
		return badRequest("File names must not end with '/'")
	}
	if strings.Contains(name, "//") {
		return badRequest("File names must not contain '//'")
	}
	for _, seg := range strings.Split(name, "/") {
		if len(seg) > 250 {
			return badRequest("File names segment must not be more than 250 bytes")
		}
	}
	return nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// percentDecode decodes B2's header/URL string encoding: '+' is a space,
// %XX (either case) a byte; the result must be valid UTF-8.
func percentDecode(s string) (string, bool) {
	if !strings.ContainsAny(s, "%+") {
		return s, utf8.ValidString(s)
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '+':
			b = append(b, ' ')
		case '%':
			if i+2 >= len(s) {
				return "", false
			}
			h, ok1 := unhex(s[i+1])
			l, ok2 := unhex(s[i+2])
			if !ok1 || !ok2 {
				return "", false
			}
			b = append(b, h<<4|l)
			i += 2
		default:
			b = append(b, c)
		}
	}
	return string(b), utf8.Valid(b)
}

// percentEncode encodes every byte except A–Z a–z 0–9 - . _ ~ / as %XX.
func percentEncode(s string) string {
	const hexd = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '/' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexd[c>>4])
		b.WriteByte(hexd[c&15])
	}
	return b.String()
}

var extTypes = map[string]string{
	".txt": "text/plain", ".text": "text/plain", ".md": "text/markdown", ".html": "text/html",
	".htm": "text/html", ".css": "text/css", ".csv": "text/csv", ".js": "application/javascript",
	".json": "application/json", ".xml": "application/xml", ".pdf": "application/pdf",
	".zip": "application/zip", ".gz": "application/gzip", ".tar": "application/x-tar",
	".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".gif": "image/gif",
	".svg": "image/svg+xml", ".webp": "image/webp", ".mp3": "audio/mpeg", ".mp4": "video/mp4",
	".wav": "audio/x-wav", ".go": "text/plain", ".log": "text/plain", ".bin": "application/octet-stream",
}

// autoContentType implements b2/x-auto: a type from the name's extension,
// application/octet-stream when unknown.
func autoContentType(name string) string {
	ext := strings.ToLower(path.Ext(name))
	if t, ok := extTypes[ext]; ok {
		return t
	}
	if ext != "" {
		if t := mime.TypeByExtension(ext); t != "" {
			if mt, _, err := mime.ParseMediaType(t); err == nil {
				return mt
			}
		}
	}
	return "application/octet-stream"
}

func validContentType(t string) bool {
	if t == "" || len(t) > 1024 {
		return false
	}
	for i := 0; i < len(t); i++ {
		if t[i] < 32 || t[i] == 0x7f {
			return false
		}
	}
	_, _, err := mime.ParseMediaType(t)
	return err == nil || t == "b2/x-auto"
}

func isInfoKeyChar(c byte) bool {
	if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
		return true
	}
	return strings.IndexByte("-_.~!#$%^&*'+|`", c) >= 0
}

var reservedInfo = map[string]string{
	"b2-content-disposition": "Content-Disposition",
	"b2-content-language":    "Content-Language",
	"b2-expires":             "Expires",
	"b2-cache-control":       "Cache-Control",
	"b2-content-encoding":    "Content-Encoding",
}

// validateInfo checks one file-info entry (key already lower-cased).
func validateInfo(k, v string) *apiErr {
	if k == "" || len(k) > 50 {
		return badRequest("file info names must be 1 to 50 bytes: %q", k)
	}
	for i := 0; i < len(k); i++ {
		if !isInfoKeyChar(k[i]) {
			return badRequest("invalid character in file info name %q", k)
		}
	}
	if !utf8.ValidString(v) {
		return badRequest("file info value for %q is not valid UTF-8", k)
	}
	if strings.HasPrefix(k, "b2-") {
		if _, ok := reservedInfo[k]; !ok {
			return badRequest("file info name %q is reserved", k)
		}
		for i := 0; i < len(v); i++ {
			if v[i] < 32 || v[i] == 0x7f {
				return badRequest("invalid value for %s", k)
			}
		}
		if v == "" {
			return badRequest("empty value for %s", k)
		}
		if k == "b2-expires" {
			if _, err := http.ParseTime(v); err != nil {
				return badRequest("invalid value for b2-expires: must be an HTTP date")
			}
		}
		if k == "b2-content-disposition" {
			if _, _, err := mime.ParseMediaType(v); err != nil {
				return badRequest("invalid value for b2-content-disposition")
			}
		}
	}
	return nil
}

// validateInfoMap checks a fileInfo object of a JSON call and returns it with
// lower-cased keys.
func validateInfoMap(m map[string]string, maxEntries int, name string) (map[string]string, *apiErr) {
	out := make(map[string]string, len(m))
	budget := len("X-Bz-File-Name: ") + len(percentEncode(name)) + 2
	for k, v := range m {
		lk := strings.ToLower(k)
		if e := validateInfo(lk, v); e != nil {
			return nil, e
		}
		out[lk] = v
		budget += len("X-Bz-Info-") + len(k) + 2 + len(percentEncode(v)) + 2
	}
	if len(out) > maxEntries {
		return nil, badRequest("too many file info entries (max %d)", maxEntries)
	}
	if budget > 7000 {
		return nil, badRequest("file name and file info exceed 7000 bytes")
	}
	return out, nil
}

func isHex40(s string) bool {
	if len(s) != 40 {
		return false
	}
	for i := 0; i < 40; i++ {
		if _, ok := unhex(s[i]); !ok {
			return false
		}
	}
	return true
}

// validFileID reports whether id has the shape of an emulator file id.
func validFileID(id string) bool {
	if id == "" || len(id) > 200 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
