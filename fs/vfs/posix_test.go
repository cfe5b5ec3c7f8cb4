package vfs

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
		key, hashed := xattrKey(tc.name)
		if hashed != tc.hashed {
			t.Errorf("%q: hashed = %v, want %v", tc.name, hashed, tc.hashed)
		}
		if len(key) > maxInfoKeyLen {
			t.Errorf("%q: key %q longer than 50 bytes", tc.name, key)
		}
		for i := 0; i < len(key); i++ {
			if !keyChar(key[i]) {
				t.Errorf("%q: key %q has byte %q outside B2's key charset", tc.name, key, key[i])
			}
		}
		value := []byte("v\x00\xff=%é " + tc.name)
		info := map[string]string{key: xattrValue(tc.name, value, hashed)}
		got, ok := getXattr(info, tc.name)
		if !ok || string(got) != string(value) {
			t.Errorf("%q: round trip gave %q, %v", tc.name, got, ok)
		}
		if l := listXattrs(info); len(l) != 1 || l[0] != "user."+tc.name {
			t.Errorf("%q: list = %q", tc.name, l)
		}
		if _, err := b2client.PercentDecode(b2client.PercentEncode(info[key])); err != nil {
			t.Errorf("%q: value %q does not survive header encoding: %v", tc.name, info[key], err)
		}
	}
}

func TestListXattrsSkipsUnreadable(t *testing.T) {
	key, _ := xattrKey("Mixed Case")
	info := map[string]string{
		xattrKeyPrefix + "ok":  "fine",
		xattrKeyPrefix + "bad": "%zz",            // not our escaping
		xattrKeyPrefix + "UP":  "upper-case key", // B2 would have lower-cased it
		xattrHashPrefix + "00": "other=name",     // hash does not match the name
		key:                    escapeBytes("Mixed Case") + "=v",
	}
	got := listXattrs(info)
	if strings.Join(got, ",") != "user.Mixed Case,user.ok" {
		t.Fatalf("listXattrs = %q", got)
	}
}

func TestEscapeBytesRoundTrip(t *testing.T) {
	for _, s := range []string{"", "plain", "../a b/c", "%41", "a=b", "\x00\x01\xfe", "日本"} {
		e := escapeBytes(s)
		for i := 0; i < len(e); i++ {
			if e[i] <= 0x20 || e[i] >= 0x7f {
				t.Errorf("escape(%q) = %q has a non-printable byte", s, e)
			}
		}
		if got, err := unescapeBytes(e); err != nil || got != s {
			t.Errorf("unescape(escape(%q)) = %q, %v", s, got, err)
		}
	}
	for _, bad := range []string{"%", "%4", "%zz"} {
		if _, err := unescapeBytes(bad); err == nil {
			t.Errorf("unescape(%q) succeeded", bad)
		}
	}
}

func TestCheckInfoFits(t *testing.T) {
	base := map[string]string{InfoMode: "644", InfoUID: "1000", InfoGID: "1000"}
	if e := checkInfoFits("dir/file", base, ""); e != nil {
		t.Fatalf("metadata alone does not fit: %v", e)
	}
	// 10 entries with mtime and large_file_sha1 reserved: 5 xattrs fit.
	info := cloneInfo(base)
	for i := 0; i < 5; i++ {
		info[xattrKeyPrefix+string(rune('a'+i))] = "v"
	}
	if e := checkInfoFits("f", info, ""); e != nil {
		t.Fatalf("5 xattrs: %v", e)
	}
	info[xattrKeyPrefix+"f"] = "v"
	if e := checkInfoFits("f", info, xattrKeyPrefix+"f"); !errors.Is(e, errs.ErrNoSpace) {
		t.Fatalf("6 xattrs: %v, want ENOSPC", e)
	}
	big := cloneInfo(base)
	big[xattrKeyPrefix+"big"] = strings.Repeat("x", 7000)
	if e := checkInfoFits("f", big, xattrKeyPrefix+"big"); !errors.Is(e, errs.ErrValueTooBig) {
		t.Fatalf("7000-byte value: %v, want E2BIG", e)
	}
	two := cloneInfo(base)
	two[xattrKeyPrefix+"a"] = strings.Repeat("x", 3400)
	two[xattrKeyPrefix+"b"] = strings.Repeat("x", 3400)
	if e := checkInfoFits("f", two, xattrKeyPrefix+"b"); !errors.Is(e, errs.ErrNoSpace) {
		t.Fatalf("two 3400-byte values: %v, want ENOSPC", e)
	}
}

func TestApplyMeta(t *testing.T) {
	f := &FS{opts: Options{UID: 7, GID: 8, FileMode: 0o644, DirMode: 0o755}}
	for _, tc := range []struct {
		name string
		info map[string]string
		mode uint32
		uid  uint32
		gid  uint32
	}{
		{"no metadata", nil, syscall.S_IFREG | 0o644, 7, 8},
		{"full", map[string]string{InfoMode: "4750", InfoUID: "1000", InfoGID: "65534"}, syscall.S_IFREG | 0o4750, 1000, 65534},
		{"mode 000", map[string]string{InfoMode: "0"}, syscall.S_IFREG, 7, 8},
		{"bad values ignored", map[string]string{InfoMode: "9z", InfoUID: "-1", InfoGID: "x"}, syscall.S_IFREG | 0o644, 7, 8},
		{"symlink", map[string]string{InfoType: typeSymlink, InfoMode: "600", InfoUID: "3"}, syscall.S_IFLNK | 0o777, 3, 8},
	} {
		var out Attr
		f.fileAttr(cache.Entry{Info: tc.info}, &out)
		if out.Mode != tc.mode || out.Uid != tc.uid || out.Gid != tc.gid {
			t.Errorf("%s: mode %o uid %d gid %d, want %o %d %d", tc.name, out.Mode, out.Uid, out.Gid, tc.mode, tc.uid, tc.gid)
		}
	}
}

func TestParseMetaSymlinkTarget(t *testing.T) {
	m := parseMeta(map[string]string{InfoType: typeSymlink, InfoTarget: escapeBytes("../a b/ü")})
	if !m.symlink || !m.hasTarget || m.target != "../a b/ü" {
		t.Fatalf("%+v", m)
	}
	if e := (cache.Entry{Info: map[string]string{InfoType: typeSymlink}}); entryType(e) != syscall.S_IFLNK {
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
		key, hashed := xattrKey(name)
		if len(key) > maxInfoKeyLen {
			t.Fatalf("key %q too long", key)
		}
		for i := 0; i < len(key); i++ {
			if !keyChar(key[i]) {
				t.Fatalf("key %q: byte %q outside the charset", key, key[i])
			}
		}
		info := map[string]string{key: xattrValue(name, value, hashed)}
		got, ok := getXattr(info, name)
		if !ok || string(got) != string(value) {
			t.Fatalf("round trip of %q=%q gave %q, %v", name, value, got, ok)
		}
		if l := listXattrs(info); len(l) != 1 || l[0] != xattrUser+name {
			t.Fatalf("list %q", l)
		}
	})
}
