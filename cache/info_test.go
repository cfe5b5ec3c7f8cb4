package cache

import (
	"maps"
	"testing"
)

// TestEntryInfoRoundTrip: whatever the info, Info, InfoValue and InfoLen
// give back exactly what SetInfo got, whether it was kept as numbers or as
// the map.
func TestEntryInfoRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name    string
		info    map[string]string
		numeric bool
	}{
		{"none", nil, true},
		{"empty", map[string]string{}, true},
		{"mtime", map[string]string{InfoModTime: "1700000000123"}, true},
		{"b2fs file", map[string]string{InfoModTime: "1700000000123", InfoMode: "4755", InfoUID: "1000", InfoGID: "0"}, true},
		{"negative mtime", map[string]string{InfoModTime: "-5"}, true},
		{"leading zero mode", map[string]string{InfoMode: "0644"}, false},
		{"mode too big", map[string]string{InfoMode: "17777"}, false},
		{"plus sign", map[string]string{InfoModTime: "+1"}, false},
		{"uid beyond 32 bits", map[string]string{InfoUID: "4294967296"}, false},
		{"empty value", map[string]string{InfoGID: ""}, false},
		{"other key", map[string]string{InfoModTime: "1", "b2fs-x-a": "b"}, false},
	} {
		var e Entry
		e.SetInfo(tc.info)
		want := tc.info
		if len(want) == 0 {
			want = nil
		}
		got := e.Info()
		if len(got) == 0 {
			got = nil
		}
		if !maps.Equal(got, want) || (want == nil) != (got == nil) {
			t.Errorf("%s: Info() = %v, want %v", tc.name, got, want)
		}
		if e.InfoLen() != len(want) {
			t.Errorf("%s: InfoLen() = %d, want %d", tc.name, e.InfoLen(), len(want))
		}
		for _, k := range []string{InfoModTime, InfoMode, InfoUID, InfoGID, "b2fs-x-a"} {
			v, ok := e.InfoValue(k)
			wv, wok := want[k]
			if v != wv || ok != wok {
				t.Errorf("%s: InfoValue(%s) = %q %v, want %q %v", tc.name, k, v, ok, wv, wok)
			}
		}
		if _, ok := e.Numeric(); ok != tc.numeric {
			t.Errorf("%s: Numeric ok = %v, want %v", tc.name, ok, tc.numeric)
		}
	}
}

func TestEntryInfoNumeric(t *testing.T) {
	var e Entry
	e.SetInfo(map[string]string{InfoModTime: "1700000000123", InfoMode: "750", InfoGID: "7"})
	n, ok := e.Numeric()
	want := Numeric{ModTime: 1700000000123, Mode: 0o750, GID: 7, HasModTime: true, HasMode: true, HasGID: true}
	if !ok || n != want {
		t.Fatalf("Numeric() = %+v %v, want %+v", n, ok, want)
	}
}

// TestEntryInfoCompactSize: an entry whose info is all numbers holds no
// map (the memory a listing of many names saves).
func TestEntryInfoCompactSize(t *testing.T) {
	var e Entry
	e.SetInfo(map[string]string{InfoModTime: "1700000000123"})
	if e.infoMap != nil {
		t.Fatal("the map was kept")
	}
}
