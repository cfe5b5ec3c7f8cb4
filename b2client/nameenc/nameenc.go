// Package nameenc maps Linux file name components to B2 file name segments
// and back, compatibly with rclone's default encoding for its B2 backend.
//
// B2 refuses control characters, DEL and (in older rules) backslash in file
// names, and needs valid UTF-8; Linux allows every byte but "/" and NUL. The
// encoding replaces each byte B2 cannot store with a look-alike Unicode
// character:
//
//	0x01-0x1F  U+2401-U+241F (SYMBOL FOR START OF HEADING ... UNIT SEPARATOR)
//	0x7F (DEL) U+2421 SYMBOL FOR DELETE
//	\          U+FF3C FULLWIDTH REVERSE SOLIDUS
//	/          U+FF0F FULLWIDTH SOLIDUS (never in a Linux name)
//	0x00       U+2400 SYMBOL FOR NULL (never in a Linux name)
//	"." ".."   U+FF0E, U+FF0E U+FF0E (whole segment only)
//	invalid UTF-8 byte xx   U+201B followed by xx in upper-case hex
//
// U+201B SINGLE HIGH-REVERSED-9 QUOTATION MARK is the quote: a name that
// already holds one of the look-alike characters (or the quote itself) gets
// a quote in front of it, so every name encodes to a different segment and
// decodes back to itself.
//
// Decode accepts every string. Segments that no Encode produces (a lone
// quote, lower-case hex after a quote, a quote before an ordinary
// character) still decode, the way rclone decodes them, but do not
// round-trip: Local reports them, so a filesystem can leave them out rather
// than show a name that leads to a different object.
package nameenc

import (
	"strings"
	"unicode/utf8"
)

// Mask selects the character classes an encoding replaces. NUL and the
// quote rules apply under every mask.
type Mask uint

// Character classes.
const (
	Slash       Mask = 1 << iota // "/" and U+FF0F
	BackSlash                    // "\" and U+FF3C
	Del                          // 0x7F and U+2421
	Ctl                          // 0x01-0x1F and U+2401-U+241F
	InvalidUTF8                  // bytes that are not part of valid UTF-8
	Dot                          // the segments "." and ".."
)

// B2 is rclone's default encoding for its B2 backend (rclone's
// Display|BackSlash|InvalidUtf8).
const B2 = Slash | BackSlash | Del | Ctl | InvalidUTF8 | Dot

// Standard is the encoding rclone prints names in (lsf, ls, logs): B2
// without BackSlash and InvalidUTF8.
const Standard = Slash | Del | Ctl | Dot

// Limits of a B2 file name, in bytes of the encoded UTF-8 name.
const (
	MaxSegment = 250  // one "/"-separated segment
	MaxName    = 1024 // the whole name
)

const (
	quote      = '\u201B' // SINGLE HIGH-REVERSED-9 QUOTATION MARK
	symNull    = '\u2400' // SYMBOL FOR NULL; 0x01-0x1F follow it
	symDel     = '\u2421' // SYMBOL FOR DELETE
	fullOffset = 0xFEE0   // ASCII '!'..'~' + fullOffset = FULLWIDTH form
	fullSlash  = '/' + fullOffset
	fullBack   = '\\' + fullOffset
	fullDot    = '.' + fullOffset
)

const upperHex = "0123456789ABCDEF"

// Encode maps a Linux name component to a B2 segment with the B2 mask.
func Encode(name string) string { return B2.Encode(name) }

// Decode maps a B2 segment to a name with the B2 mask.
func Decode(seg string) string { return B2.Decode(seg) }

// Local returns the Linux name component shown for the B2 segment seg and
// whether there is one: seg must be what Encode makes of that name, and
// the name must be one Linux allows (not empty, ".", "..", no "/" or NUL).
func Local(seg string) (string, bool) {
	name := B2.Decode(seg)
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
		return name, false
	}
	return name, B2.Encode(name) == seg
}

// special reports whether r is replaced (or quoted) under m, so that a
// name holding none of them is returned as it is.
func (m Mask) special(r rune, size int) bool {
	switch {
	case r == 0, r == symNull, r == quote:
		return true
	case r == utf8.RuneError && size == 1:
		return m&InvalidUTF8 != 0
	case r == '/', r == fullSlash:
		return m&Slash != 0
	case r == '\\', r == fullBack:
		return m&BackSlash != 0
	case r == 0x7F, r == symDel:
		return m&Del != 0
	case r >= 0x01 && r <= 0x1F, r > symNull && r <= symNull+0x1F:
		return m&Ctl != 0
	}
	return false
}

// Encode maps a name to its encoded form under m.
func (m Mask) Encode(name string) string {
	if m&Dot != 0 {
		switch name {
		case ".":
			return string(fullDot)
		case "..":
			return string(fullDot) + string(fullDot)
		case string(fullDot):
			return string(quote) + string(fullDot)
		case string(fullDot) + string(fullDot):
			return string(quote) + string(fullDot) + string(quote) + string(fullDot)
		}
	}
	first := -1
	for i := 0; i < len(name); {
		r, size := utf8.DecodeRuneInString(name[i:])
		if m.special(r, size) {
			first = i
			break
		}
		i += size
	}
	if first < 0 {
		return name
	}
	var b strings.Builder
	b.Grow(len(name) + 8)
	b.WriteString(name[:first])
	for i := first; i < len(name); {
		r, size := utf8.DecodeRuneInString(name[i:])
		i += size
		switch {
		case !m.special(r, size):
			if r == utf8.RuneError && size == 1 {
				b.WriteByte(name[i-1]) // kept as it is without InvalidUTF8
			} else {
				b.WriteRune(r)
			}
		case r == utf8.RuneError && size == 1:
			c := name[i-1]
			b.WriteRune(quote)
			b.WriteByte(upperHex[c>>4])
			b.WriteByte(upperHex[c&15])
		case r == 0:
			b.WriteRune(symNull)
		case r >= 0x01 && r <= 0x1F:
			b.WriteRune(symNull + r)
		case r == 0x7F:
			b.WriteRune(symDel)
		case r == '/', r == '\\':
			b.WriteRune(r + fullOffset)
		default: // a look-alike or the quote: quoted
			b.WriteRune(quote)
			b.WriteRune(r)
		}
	}
	return b.String()
}

// replacement reports whether r stands for another character under m when
// not quoted, and which (for InvalidUTF8's hex pairs see Decode).
func (m Mask) replacement(r rune) (rune, bool) {
	switch {
	case r == symNull:
		return 0, true
	case r == fullSlash && m&Slash != 0, r == fullBack && m&BackSlash != 0:
		return r - fullOffset, true
	case r == symDel && m&Del != 0:
		return 0x7F, true
	case r > symNull && r <= symNull+0x1F && m&Ctl != 0:
		return r - symNull, true
	}
	return 0, false
}

// Decode undoes Encode under m. It accepts any input (see the package
// documentation for segments Encode never makes).
func (m Mask) Decode(seg string) string {
	if m&Dot != 0 {
		switch seg {
		case string(fullDot):
			return "."
		case string(fullDot) + string(fullDot):
			return ".."
		case string(quote) + string(fullDot):
			return string(fullDot)
		case string(quote) + string(fullDot) + string(quote) + string(fullDot):
			return string(fullDot) + string(fullDot)
		}
	}
	first := -1
	for i, r := range seg {
		if _, ok := m.replacement(r); ok || r == quote {
			first = i
			break
		}
	}
	if first < 0 {
		return seg
	}
	var b strings.Builder
	b.Grow(len(seg))
	b.WriteString(seg[:first])
	quoted := false // the previous rune was a quote not yet used
	for i := first; i < len(seg); {
		r, size := utf8.DecodeRuneInString(seg[i:])
		if quoted {
			quoted = false
			if _, ok := m.replacement(r); ok || r == quote {
				b.WriteRune(r)
				i += size
				continue
			}
			if c, ok := hexByte(seg[i:]); ok && m&InvalidUTF8 != 0 {
				b.WriteByte(c)
				i += 2
				continue
			}
			b.WriteRune(quote) // a quote before an ordinary character stays
		}
		if r == quote {
			quoted = true
			i += size
			continue
		}
		if c, ok := m.replacement(r); ok {
			b.WriteRune(c)
		} else {
			b.WriteString(seg[i : i+size]) // keeps invalid bytes as they are
		}
		i += size
	}
	if quoted {
		b.WriteRune(quote)
	}
	return b.String()
}

// hexByte parses two hex digits (either case) at the start of s.
func hexByte(s string) (byte, bool) {
	if len(s) < 2 {
		return 0, false
	}
	hi, ok1 := unhex(s[0])
	lo, ok2 := unhex(s[1])
	return hi<<4 | lo, ok1 && ok2
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
