package e2e

import (
	"strings"
	"testing"
)

func TestDemo(t *testing.T) {
	m := startMount(t, nil, mountOpts{Demo: true})
	if out := sh(t, m.Dir, "cat README.txt"); !strings.Contains(out, "b2emu sample bucket") {
		t.Fatalf("README.txt = %q", out)
	}
	if out := sh(t, m.Dir, "stat -c %s big/random-6MiB.bin"); strings.TrimSpace(out) != "6291456" {
		t.Fatalf("big file size %q", out)
	}
	if out := sh(t, m.Dir, "ls -a folder"); out != ".\n..\n" {
		t.Fatalf("empty folder lists %q", out)
	}
	sh(t, m.Dir, "cat 'docs/notes with spaces.txt' photos/cats/fluffy.jpg > /dev/null")
}
