package main

import (
	"errors"
	"io"
	"testing"
)

func TestPosixFlags(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		usage bool
		check func(*config) bool
	}{
		{"defaults", []string{"/m"}, false, func(c *config) bool {
			return c.uid == -1 && c.gid == -1 && c.umask == -1 && !c.allowOther && c.defaultPermissions
		}},
		{"long flags", []string{"--uid", "1000", "--gid", "65534", "--umask", "027", "--allow-other", "/m"}, false, func(c *config) bool {
			return c.uid == 1000 && c.gid == 65534 && c.umask == 0o27 && c.allowOther
		}},
		{"-o and long flags set the same fields", []string{"--uid", "5", "-o", "uid=7,umask=077", "/m"}, false, func(c *config) bool {
			return c.uid == 7 && c.umask == 0o77
		}},
		{"default_permissions off", []string{"--default-permissions=false", "/m"}, false, func(c *config) bool { return !c.defaultPermissions }},
		{"-o default_permissions", []string{"--default-permissions=false", "-o", "default_permissions", "/m"}, false, func(c *config) bool { return c.defaultPermissions }},
		{"-o allow-other as a long flag", []string{"-o", "allow-other", "/m"}, false, func(c *config) bool { return c.allowOther }},
		{"bad uid", []string{"--uid", "-3", "/m"}, true, nil},
		{"bad gid option", []string{"-o", "gid=abc", "/m"}, true, nil},
		{"uid without value", []string{"-o", "uid", "/m"}, true, nil},
		{"umask not octal", []string{"--umask", "8", "/m"}, true, nil},
		{"umask too big", []string{"-o", "umask=1777", "/m"}, true, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseArgs(tc.args, io.Discard)
			if tc.usage {
				var ue usageError
				if !errors.As(err, &ue) {
					t.Fatalf("want a usage error, got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Fatalf("unexpected config %+v", c)
			}
		})
	}
}
