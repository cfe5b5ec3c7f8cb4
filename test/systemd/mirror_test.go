package systemd

import (
	"os"
	"path/filepath"
	"testing"
)

// TestDebianMirror: the mirror comes from apt's sources in either format;
// security and other archives are not taken for it.
func TestDebianMirror(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	deb822 := write("debian.sources", `Types: deb
URIs: http://security.example/debian-security
Suites: bookworm-security
Components: main

Types: deb
# a comment
URIs: http://mirror.example/debian/
Suites: bookworm bookworm-updates
Components: main
`)
	oneLine := write("sources.list", `# deb http://old.example/debian bookworm main
deb [arch=amd64 signed-by=/k.gpg] http://one.example/debian bookworm main
deb http://other.example/ubuntu jammy main
`)
	trixie := write("trixie.list", "deb http://trixie.example/debian trixie main\n")
	for _, tc := range []struct {
		files []string
		want  string
	}{
		{[]string{deb822}, "http://mirror.example/debian"},
		{[]string{oneLine}, "http://one.example/debian"},
		{[]string{trixie, oneLine}, "http://one.example/debian"}, // bookworm preferred
		{[]string{trixie}, "http://trixie.example/debian"},       // any Debian archive
		{[]string{filepath.Join(dir, "missing")}, "http://deb.debian.org/debian"},
	} {
		if got := debianMirrorFrom(tc.files); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.files, got, tc.want)
		}
	}
}
