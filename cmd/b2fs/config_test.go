package main

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseArgs(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		usage bool // want a usage error
		check func(*config) bool
	}{
		{"mountpoint only", []string{"/mnt"}, false, func(c *config) bool { return c.source == "" && c.mountpoint == "/mnt" }},
		{"bucket and prefix", []string{"b/some/prefix", "/mnt"}, false, func(c *config) bool { return c.source == "b/some/prefix" }},
		{"mount options", []string{"-o", "ro,allow_other,uid=12,gid=34,umask=027", "/m"}, false, func(c *config) bool {
			return c.readOnly && c.allowOther && c.uid == 12 && c.gid == 34 && c.umask == 0o27
		}},
		{"repeated -o and long flags as options", []string{"-o", "dir-cache-ttl=5m", "-o", "read-only,attr-cache-ttl=2s,nofail,_netdev,x-systemd.automount", "/m"}, false, func(c *config) bool {
			return c.dirTTL == 5*time.Minute && c.attrTTL == 2*time.Second && c.readOnly
		}},
		{"rw after ro", []string{"-o", "ro,rw", "/m"}, false, func(c *config) bool { return !c.readOnly }},
		{"modes", []string{"-o", "dir_mode=0750,file_mode=0640", "/m"}, false, func(c *config) bool { return c.dirMode == 0o750 && c.fileMode == 0o640 }},
		{"demo", []string{"--demo", "/m"}, false, func(c *config) bool { return c.demo }},
		{"unknown -o", []string{"-o", "bogus", "/m"}, true, nil},
		{"bad uid", []string{"-o", "uid=x", "/m"}, true, nil},
		{"bad umask", []string{"-o", "umask=99", "/m"}, true, nil},
		{"unknown flag", []string{"--nope", "/m"}, true, nil},
		{"no args", nil, true, nil},
		{"three args", []string{"a", "b", "c"}, true, nil},
		{"demo with bucket", []string{"--demo", "b", "/m"}, true, nil},
		{"bad level", []string{"--log-level", "loud", "/m"}, true, nil},
		{"bad size", []string{"--read-ahead-max", "lots", "/m"}, true, nil},
		{"negative ttl", []string{"--dir-cache-ttl", "-1s", "/m"}, true, nil},
		{"list prefetch pages negative", []string{"--list-prefetch-pages", "-1", "/m"}, true, nil},
		{"list prefetch pages too many", []string{"--list-prefetch-pages", "101", "/m"}, true, nil},
		{"list prefetch off", []string{"-o", "list-prefetch-pages=0", "/m"}, false, func(c *config) bool { return c.listPrefetchPages == 0 }},
		{"-o options flag itself", []string{"-o", "options=x", "/m"}, true, nil},
		{"versions dir default", []string{"/m"}, false, func(c *config) bool { return c.versionsDir == ".b2fs-versions" }},
		{"versions dir renamed", []string{"--versions-dir", ".snap", "/m"}, false, func(c *config) bool { return c.versionsDir == ".snap" }},
		{"versions dir off", []string{"--versions-dir=", "/m"}, false, func(c *config) bool { return c.versionsDir == "" }},
		{"versions dir off as -o", []string{"-o", "versions-dir=", "/m"}, false, func(c *config) bool { return c.versionsDir == "" }},
		{"versions dir with a slash", []string{"--versions-dir", "a/b", "/m"}, true, nil},
		{"versions dir dot-dot", []string{"--versions-dir", "..", "/m"}, true, nil},
		{"write-back off by default", []string{"/m"}, false, func(c *config) bool { return c.write.writeBack == 0 && c.write.transfers == 16 }},
		{"bare --write-back", []string{"--write-back", "/m"}, false, func(c *config) bool { return c.write.writeBack == 2*time.Second }},
		{"--write-back=DELAY", []string{"--write-back=500ms", "--transfers", "4", "/m"}, false, func(c *config) bool {
			return c.write.writeBack == 500*time.Millisecond && c.write.transfers == 4
		}},
		{"-o write-back", []string{"-o", "write-back,transfers=8", "/m"}, false, func(c *config) bool { return c.write.writeBack == 2*time.Second && c.write.transfers == 8 }},
		{"-o write-back=DELAY", []string{"-o", "write-back=5s", "/m"}, false, func(c *config) bool { return c.write.writeBack == 5*time.Second }},
		{"-o write-back=bogus", []string{"-o", "write-back=soon", "/m"}, true, nil},
		{"negative write-back", []string{"--write-back=-1s", "/m"}, true, nil},
		{"no transfers", []string{"--transfers", "0", "/m"}, true, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseArgs(tc.args, io.Discard)
			var ue usageError
			if tc.usage {
				if !errors.As(err, &ue) {
					t.Fatalf("got %v, want a usage error", err)
				}
				if strings.Contains(ue.msg, "\n") {
					t.Fatalf("multi-line error %q", ue.msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Fatalf("parsed %+v", c)
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	tests := map[string]int64{"256MiB": 256 << 20, "1GiB": 1 << 30, "8M": 8 << 20, "512KiB": 512 << 10, "42": 42, "10B": 10}
	for in, want := range tests {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "x", "-1MiB", "1.5GiB"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) accepted", in)
		}
	}
}

func TestCredentials(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name, body string
		mode       os.FileMode
		wantErr    string
	}{
		{"simple", "key_id=abc\nkey=SECRETVALUE\n", 0o600, ""},
		{"env style", "# comment\nexport B2_APPLICATION_KEY_ID=abc\nB2_APPLICATION_KEY=\"SECRETVALUE\"\n", 0o400, ""},
		{"group readable", "key_id=abc\nkey=SECRETVALUE\n", 0o640, "readable by group or others"},
		{"missing key", "key_id=abc\n", 0o600, "needs both"},
		{"garbage", "SECRETVALUE\n", 0o600, "KEY=VALUE"},
		{"unknown name", "password=SECRETVALUE\n", 0o600, "unknown name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := write(tc.name, tc.body, tc.mode)
			c, err := loadCredentials(p, func(string) string { return "" })
			if tc.wantErr == "" {
				if err != nil || c.keyID != "abc" || c.key != "SECRETVALUE" {
					t.Fatalf("got %+v, %v", c, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got %v, want error containing %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), "SECRETVALUE") {
				t.Fatalf("error leaks the key: %v", err)
			}
		})
	}
	env := map[string]string{"B2_APPLICATION_KEY_ID": "id", "B2_APPLICATION_KEY": "k"}
	if c, err := loadCredentials("", func(k string) string { return env[k] }); err != nil || c.keyID != "id" || c.key != "k" {
		t.Fatalf("env credentials: %+v %v", c, err)
	}
	if _, err := loadCredentials("", func(string) string { return "" }); err == nil {
		t.Fatal("missing env credentials accepted")
	}
}

func TestCheckMountpoint(t *testing.T) {
	dir := t.TempDir()
	full := filepath.Join(dir, "full")
	os.Mkdir(full, 0o755)
	os.WriteFile(filepath.Join(full, "x"), nil, 0o644)
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o644)
	empty := filepath.Join(dir, "empty")
	os.Mkdir(empty, 0o755)
	tests := map[string]string{
		filepath.Join(dir, "nope"): "does not exist",
		file:                       "not a directory",
		full:                       "not empty",
		empty:                      "",
	}
	for p, want := range tests {
		err := checkMountpoint(p)
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("checkMountpoint(%s) = %v, want %q", p, err, want)
		}
	}
}
