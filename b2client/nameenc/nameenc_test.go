package nameenc

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// The B2 column was checked against Debian's rclone 1.60.1 by copying files
// with these names from a local directory to one with the B2 backend's
// default encoding ("Slash,Ctl,Del,Dot,BackSlash,InvalidUtf8").
var b2Table = []struct{ name, b2 string }{
	{"plain.txt", "plain.txt"},
	{"tab\there", "tab␉here"},
	{"nl\nx", "nl␊x"},
	{"\x01\x1f", "␁␟"},
	{"del\x7fx", "del␡x"},
	{`back\slash`, "back＼slash"},
	{"bad\xffutf", "bad‛FFutf"},
	{"\xc3", "‛C3"},
	{"x\xe2\x80", "x‛E2‛80"},
	{"\uFFFD", "\uFFFD"},
	{"．", "‛．"},
	{"．．", "‛．‛．"},
	{"．x", "．x"},
	{".", "．"},
	{"..", "．．"},
	{"...", "..."},
	{".x", ".x"},
	{"full＼x", "full‛＼x"},
	{"full／x", "full‛／x"},
	{"sym␉x", "sym‛␉x"},
	{"sym␡x", "sym‛␡x"},
	{"sym␀x", "sym‛␀x"},
	{"a‛b", "a‛‛b"},
	{"‛41", "‛‛41"},
	{"a%41", "a%41"},
	{" lead", " lead"},
	{"trail ", "trail "},
	{"ＦＵＬＬ", "ＦＵＬＬ"},
	{"a/b", "a／b"},
	{"nul\x00", "nul␀"},
	{"", ""},
}

func TestEncodeTable(t *testing.T) {
	for _, tc := range b2Table {
		if got := Encode(tc.name); got != tc.b2 {
			t.Errorf("Encode(%q) = %q, want %q", tc.name, got, tc.b2)
		}
		if got := Decode(tc.b2); got != tc.name {
			t.Errorf("Decode(%q) = %q, want %q", tc.b2, got, tc.name)
		}
	}
}

// Standard is how rclone prints names: control characters as symbols,
// backslash and invalid bytes as they are.
func TestStandardTable(t *testing.T) {
	for _, tc := range []struct{ name, want string }{
		{"tab\there", "tab␉here"},
		{`back\slash`, `back\slash`},
		{"full＼x", "full＼x"},
		{"bad\xffutf", "bad\xffutf"},
		{"a‛b", "a‛‛b"},
		{"sym␉x", "sym‛␉x"},
		{"．", "‛．"},
	} {
		if got := Standard.Encode(tc.name); got != tc.want {
			t.Errorf("Standard.Encode(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestLocal(t *testing.T) {
	for _, tc := range []struct {
		seg, name string
		ok        bool
	}{
		{"tab␉here", "tab\there", true},
		{"a‛‛b", "a‛b", true},
		{"‛．", "．", true},
		{"a‛b", "a‛b", false},   // a lone quote: Encode would double it
		{"‛41", "A", false},     // Encode("A") is "A"
		{"‛ff", "\xff", false},  // lower-case hex
		{"end‛", "end‛", false}, // a quote at the end
		{"a／b", "a/b", false},   // no Linux name holds "/"
		{"x␀", "x\x00", false},  // nor NUL
		{"．", ".", false},       // nor is "." a name
		{"．．", "..", false},     // nor ".."
		{"．．．", "．．．", true},    // three full stops are plain
	} {
		name, ok := Local(tc.seg)
		if name != tc.name || ok != tc.ok {
			t.Errorf("Local(%q) = %q, %v; want %q, %v", tc.seg, name, ok, tc.name, tc.ok)
		}
	}
}

// legalB2 reports whether s may be a B2 name segment: valid UTF-8, no
// control characters, DEL, backslash or "/", and not "." or "..".
func legalB2(s string) bool {
	if !utf8.ValidString(s) || s == "." || s == ".." {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f || c == '\\' || c == '/' {
			return false
		}
	}
	return true
}

func FuzzEncodeDecode(f *testing.F) {
	for _, tc := range b2Table {
		f.Add(tc.name)
		f.Add(tc.b2)
	}
	f.Add("‛‛‛")
	f.Add("‛E2‛80‛")
	f.Fuzz(func(t *testing.T, s string) {
		for _, m := range []Mask{B2, Standard, 0} {
			enc := m.Encode(s)
			if got := m.Decode(enc); got != s {
				t.Fatalf("mask %b: Decode(Encode(%q)) = %q (encoded %q)", m, s, got, enc)
			}
		}
		enc := Encode(s)
		if s != "" && !legalB2(enc) {
			t.Fatalf("Encode(%q) = %q is not a legal B2 segment", s, enc)
		}
		if !strings.ContainsAny(s, "/\x00") && s != "" && s != "." && s != ".." {
			if name, ok := Local(enc); !ok || name != s {
				t.Fatalf("Local(Encode(%q)) = %q, %v", s, name, ok)
			}
		}
		// Any segment: Local accepts it only when it round-trips, so two
		// segments never show as the same name.
		if name, ok := Local(s); ok && Encode(name) != s {
			t.Fatalf("Local(%q) = %q accepted but encodes to %q", s, name, Encode(name))
		}
	})
}
