package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/b2fs/b2fs/b2client"
)

func TestHelperArgs(t *testing.T) {
	tests := []struct {
		name  string
		in    []string
		want  []string
		fake  bool
		usage bool
	}{
		{"plain", []string{"bucket", "/mnt/b2"}, []string{"--daemon", "bucket", "/mnt/b2"}, false, false},
		{"options", []string{"bucket/pfx", "/mnt/b2", "-o", "rw,_netdev,credentials-file=/etc/b2fs/c"},
			[]string{"--daemon", "-o", "rw,_netdev,credentials-file=/etc/b2fs/c", "bucket/pfx", "/mnt/b2"}, false, false},
		{"userspace options", []string{"bucket", "/m", "-o", "comment=systemd.automount,x-systemd.device-timeout=10,x-mount.mkdir,nofail"},
			[]string{"--daemon", "-o", "comment=systemd.automount,x-systemd.device-timeout=10,x-mount.mkdir,nofail", "bucket", "/m"}, false, false},
		{"options first and glued", []string{"-orw,nofail", "bucket", "/m", "-o", "ro"},
			[]string{"--daemon", "-o", "rw,nofail", "-o", "ro", "bucket", "/m"}, false, false},
		{"mount flags", []string{"bucket", "/m", "-sfnv", "-t", "fuse.b2fs"}, []string{"--daemon", "bucket", "/m"}, true, false},
		{"type#source", []string{"b2fs#bucket", "/m"}, []string{"--daemon", "bucket", "/m"}, false, false},
		{"account", []string{"none", "/m"}, []string{"--daemon", "/m"}, false, false},
		{"long flag", []string{"bucket", "/m", "--metrics-addr=127.0.0.1:1"}, []string{"--daemon", "--metrics-addr=127.0.0.1:1", "bucket", "/m"}, false, false},
		{"missing mount point", []string{"bucket"}, nil, false, true},
		{"dangling -o", []string{"bucket", "/m", "-o"}, nil, false, true},
		{"unknown short flag", []string{"bucket", "/m", "-x"}, nil, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, fake, err := helperArgs(tc.in)
			var ue usageError
			if tc.usage {
				if !errors.As(err, &ue) {
					t.Fatalf("got %v, %v; want a usage error", got, err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) || fake != tc.fake {
				t.Fatalf("helperArgs(%q) = %q, fake %v, %v; want %q, fake %v", tc.in, got, fake, err, tc.want, tc.fake)
			}
			// The result parses as a b2fs command line.
			if _, err := parseArgs(got, new(bytes.Buffer)); err != nil {
				t.Fatalf("parseArgs(%q): %v", got, err)
			}
		})
	}
	for _, name := range []string{"/sbin/mount.fuse.b2fs", "mount.b2fs", "/usr/sbin/mount.fuse.b2fs"} {
		if !isMountHelper(name) {
			t.Errorf("isMountHelper(%q) = false", name)
		}
	}
	if isMountHelper("/usr/local/bin/b2fs") {
		t.Error("b2fs itself taken for the mount helper")
	}
}

func TestLogger(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	b2err := fmt.Errorf("upload x: %w", &b2client.Error{Status: 403, Code: "cap_exceeded", API: "b2_upload_file"})
	tests := []struct {
		name   string
		format string
		env    map[string]string
		check  func(string) error
	}{
		{"text with time", "auto", nil, func(s string) error {
			if !strings.HasPrefix(s, "time=") {
				return errors.New("no timestamp")
			}
			return nil
		}},
		{"journal without time", "auto", map[string]string{"JOURNAL_STREAM": "8:1234"}, func(s string) error {
			if strings.Contains(s, "time=") {
				return errors.New("timestamp under the journal")
			}
			return nil
		}},
		{"json", "json", nil, func(s string) error {
			for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
				var m map[string]any
				if err := json.Unmarshal([]byte(l), &m); err != nil {
					return fmt.Errorf("not JSON: %q", l)
				}
				if m["b2_code"] != "cap_exceeded" && m["msg"] == "failed" {
					return fmt.Errorf("no b2_code in %q", l)
				}
			}
			return nil
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			log, red, closeLog, err := newLogger(logSetup{format: tc.format, level: slog.LevelDebug, getenv: env(tc.env)}, &buf)
			if err != nil {
				t.Fatal(err)
			}
			defer closeLog()
			red.add("KSECRETSECRETSECRET")
			log.Error("failed", "op", "close bucket/x", "err", b2err)
			log.With("component", "c").Info("leak?", "detail", "token KSECRETSECRETSECRET here")
			out := buf.String()
			if err := tc.check(out); err != nil {
				t.Fatalf("%v:\n%s", err, out)
			}
			if strings.Contains(out, "KSECRETSECRETSECRET") || !strings.Contains(out, "[REDACTED]") {
				t.Fatalf("secret not redacted:\n%s", out)
			}
			if !strings.Contains(out, "cap_exceeded") || strings.Count(out, "\n") != 2 {
				t.Fatalf("want two lines with the B2 code:\n%s", out)
			}
		})
	}
}
