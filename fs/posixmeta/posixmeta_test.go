package posixmeta

import (
	"errors"
	"strings"
	"syscall"
	"testing"

	"github.com/b2fs/b2fs/b2client"
	"github.com/b2fs/b2fs/cache"
	"github.com/b2fs/b2fs/fs/errs"
)

func TestXattrKeyEncoding(t *testing.T) {
	for _, tc := range []struct {
		name   string
		hashed bool
	}{
		{"comment", false},
		{"mime_type", false},
		{"a.b-c~d", false},
		{"UPPER", true},      // keys are lower-cased by B2
		{"with space", true}, // not in the key charset
		{"ünïcode", true},    // non-ASCII
		{"x=y", true},        // '=' is not a key character
		{strings.Repeat("n", 43), false},
		{strings.Repeat("n", 44), true}, // b2fs-x- + 44 > 50 bytes
	} {
		key, hashed := XattrKey(tc.name)
		if hashed != tc.hashed {
			t.Errorf("%q: hashed = %v, want %v", tc.name, hashed, tc.hashed)
		}
		if len(key) > MaxInfoKeyLen {
			t.Errorf("%q: key %q longer than 50 bytes", tc.name, key)
		}
		for i := 0; i < len(key); i++ {
			if !keyChar(key[i]) {
				t.Errorf("%q: key %q has byte %q outside B2's key charset", tc.name, key, key[i])
			}
		}
		value := []byte("v\x00\xff=%é " + tc.name)
		info := map[string]string{key: XattrValue(tc.name, value, hashed)}
		got, ok := GetXattr(info, tc.name)
		if !ok || string(got) != string(value) {
			t.Errorf("%q: round trip gave %q, %v", tc.name, got, ok)
		}
		if l := ListXattrs(info); len(l) != 1 || l[0] != "user."+tc.name {
			t.Errorf("%q: list = %q", tc.name, l)
		}
		if _, err := b2client.PercentDecode(b2client.PercentEncode(info[key])); err != nil {
			t.Errorf("%q: value %q does not survive header encoding: %v", tc.name, info[key], err)
		}
	}
}

func TestListXattrsSkipsUnreadable(t *testing.T) {
	key, _ := XattrKey("Mixed Case")
	info := map[string]string{
		XattrKeyPrefix + "ok":  "fine",
		XattrKeyPrefix + "bad": "%zz",            // not our escaping
		XattrKeyPrefix + "UP":  "upper-case key", // B2 would have lower-cased it
		XattrHashPrefix + "00": "other=name",     // hash does not match the name
		key:                    EscapeBytes("Mixed Case") + "=v",
	}
	got := ListXattrs(info)
	if strings.Join(got, ",") != "user.Mixed Case,user.ok" {
		t.Fatalf("ListXattrs = %q", got)
	}
}

func TestEscapeBytesRoundTrip(t *testing.T) {
	for _, s := range []string{"", "plain", "../a b/c", "%41", "a=b", "\x00\x01\xfe", "日本"} {
		e := EscapeBytes(s)
		for i := 0; i < len(e); i++ {
			if e[i] <= 0x20 || e[i] >= 0x7f {
				t.Errorf("escape(%q) = %q has a non-printable byte", s, e)
			}
		}
		if got, err := UnescapeBytes(e); err != nil || got != s {
			t.Errorf("unescape(escape(%q)) = %q, %v", s, got, err)
		}
	}
	for _, bad := range []string{"%", "%4", "%zz"} {
		if _, err := UnescapeBytes(bad); err == nil {
			t.Errorf("unescape(%q) succeeded", bad)
		}
	}
}

func TestCheckInfoFits(t *testing.T) {
	base := map[string]string{InfoMode: "644", InfoUID: "1000", InfoGID: "1000"}
	if e := CheckInfoFits("dir/file", base, ""); e != nil {
		t.Fatalf("metadata alone does not fit: %v", e)
	}
	// 10 entries with mtime and large_file_sha1 reserved: 5 xattrs fit.
	info := CloneInfo(base)
	for i := 0; i < 5; i++ {
		info[XattrKeyPrefix+string(rune('a'+i))] = "v"
	}
	if e := CheckInfoFits("f", info, ""); e != nil {
		t.Fatalf("5 xattrs: %v", e)
	}
	info[XattrKeyPrefix+"f"] = "v"
	if e := CheckInfoFits("f", info, XattrKeyPrefix+"f"); !errors.Is(e, errs.ErrNoSpace) {
		t.Fatalf("6 xattrs: %v, want ENOSPC", e)
	}
	big := CloneInfo(base)
	big[XattrKeyPrefix+"big"] = strings.Repeat("x", 7000)
	if e := CheckInfoFits("f", big, XattrKeyPrefix+"big"); !errors.Is(e, errs.ErrValueTooBig) {
		t.Fatalf("7000-byte value: %v, want E2BIG", e)
	}
	two := CloneInfo(base)
	two[XattrKeyPrefix+"a"] = strings.Repeat("x", 3400)
	two[XattrKeyPrefix+"b"] = strings.Repeat("x", 3400)
	if e := CheckInfoFits("f", two, XattrKeyPrefix+"b"); !errors.Is(e, errs.ErrNoSpace) {
		t.Fatalf("two 3400-byte values: %v, want ENOSPC", e)
	}
}

func TestParseMetaSymlinkTarget(t *testing.T) {
	m := Parse(map[string]string{InfoType: TypeSymlink, InfoTarget: EscapeBytes("../a b/ü")})
	if !m.Symlink || !m.HasTarget || m.Target != "../a b/ü" {
		t.Fatalf("%+v", m)
	}
	var e cache.Entry
	e.SetInfo(map[string]string{InfoType: TypeSymlink})
	if EntryType(e) != syscall.S_IFLNK {
		t.Fatal("symlink entry type")
	}
}

func FuzzXattrEncoding(f *testing.F) {
	for _, s := range []string{"comment", "UPPER", "a=b", "%", "ü", strings.Repeat("x", 60)} {
		f.Add(s, []byte("value\x00\xff"))
	}
	f.Fuzz(func(t *testing.T, name string, value []byte) {
		if name == "" {
			return
		}
		key, hashed := XattrKey(name)
		if len(key) > MaxInfoKeyLen {
			t.Fatalf("key %q too long", key)
		}
		for i := 0; i < len(key); i++ {
			if !keyChar(key[i]) {
				t.Fatalf("key %q: byte %q outside the charset", key, key[i])
			}
		}
		info := map[string]string{key: XattrValue(name, value, hashed)}
		got, ok := GetXattr(info, name)
		if !ok || string(got) != string(value) {
			t.Fatalf("round trip of %q=%q gave %q, %v", name, value, got, ok)
		}
		if l := ListXattrs(info); len(l) != 1 || l[0] != XattrUser+name {
			t.Fatalf("list %q", l)
		}
	})
}
