package fs

import (
	"os"
	"path/filepath"
	"testing"
)

// TestPassJoin checks which versions a passthrough open may join while
// passthrough handles of another version are open: one with the same
// size and SHA-1, or whose read-cache file is theirs; never one of other
// or unknown content, nor while another open waits and none is open.
func TestPassJoin(t *testing.T) {
	dir := t.TempDir()
	stat := func(name string) os.FileInfo {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("content"), 0o600); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return fi
	}
	file, other := stat("file"), stat("other")
	const sum, sum2 = "8a2fcc363525efba1f66fa0823ca1dbc7f1ca27b", "0a2fcc363525efba1f66fa0823ca1dbc7f1ca27b"
	read := passVersion{id: "A", size: 7, sha1: sum}
	n := &fileNode{io: &fileIO{ioPass: 1, pass: read, passFile: file}}
	for _, c := range []struct {
		v    passVersion
		fi   os.FileInfo
		want bool
	}{
		{passVersion{id: "A", size: 7, sha1: sum}, other, true},
		{passVersion{id: "B", size: 7, sha1: sum}, nil, true},
		{passVersion{id: "B", size: 7, sha1: sum}, other, true},
		{passVersion{id: "B", size: 7, sha1: sum2}, file, false},
		{passVersion{id: "B", size: 8, sha1: sum}, file, false},
		{passVersion{id: "B", size: 7}, nil, true}, // checked again once opened
		{passVersion{id: "B", size: 7}, file, true},
		{passVersion{id: "B", size: 7}, other, false},
		{passVersion{id: "B", size: 8}, file, false},
	} {
		src, ok := n.passOK(c.v, c.fi)
		if ok != c.want || src != read {
			t.Errorf("join %+v (cache file %v): %v reading %+v, want %v reading %+v", c.v, c.fi != nil && os.SameFile(c.fi, file), ok, src, c.want, read)
		}
	}
	n.io.ioOther = 1
	if _, ok := n.passOK(read, file); ok {
		t.Error("a passthrough open joined while a non-passthrough handle is open")
	}
	n.io = &fileIO{otherWaiting: 1}
	if _, ok := n.passOK(read, file); ok {
		t.Error("a passthrough open was made while another open waits and none is open")
	}
}
