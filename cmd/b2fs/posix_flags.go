package main

import (
	"fmt"
	"strconv"

	"github.com/spf13/pflag"
)

// addPosixFlags registers the ownership and permission flags. The -o forms
// (uid=, gid=, umask=, allow_other, default_permissions) set the same
// config fields: the flags are the one source of truth.
func addPosixFlags(fl *pflag.FlagSet, c *config) {
	fl.Var(&idValue{&c.uid}, "uid", "owner `UID` of files and directories without stored metadata (default: the mounting user)")
	fl.Var(&idValue{&c.gid}, "gid", "group `GID` of files and directories without stored metadata (default: the mounting user's group)")
	fl.Var(&umaskValue{&c.umask}, "umask", "permission bits (`OCTAL`) removed from 0777 (directories) and 0666 (files) without stored metadata (default 022)")
	fl.BoolVar(&c.allowOther, "allow-other", false, "let other users access the mount (needs user_allow_other in /etc/fuse.conf for non-root)")
	fl.BoolVar(&c.defaultPermissions, "default-permissions", true, "let the kernel check each file's mode and owner on access")
	fl.BoolVar(&c.xattrs, "xattrs", true, "serve user.* extended attributes; =false makes ls -l faster (no getxattr round trips)")
}

// idValue is a uid or gid flag; -1 means unset.
type idValue struct{ p *int }

func (v *idValue) String() string {
	if v.p == nil || *v.p < 0 {
		return ""
	}
	return strconv.Itoa(*v.p)
}

func (v *idValue) Set(s string) error {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return fmt.Errorf("%q is not a number", s)
	}
	*v.p = int(n)
	return nil
}

func (v *idValue) Type() string { return "id" }

// umaskValue is an octal umask; -1 means unset.
type umaskValue struct{ p *int }

func (v *umaskValue) String() string {
	if v.p == nil || *v.p < 0 {
		return ""
	}
	return fmt.Sprintf("%03o", *v.p)
}

func (v *umaskValue) Set(s string) error {
	n, err := strconv.ParseUint(s, 8, 32)
	if err != nil || n > 0o777 {
		return fmt.Errorf("%q is not an octal umask", s)
	}
	*v.p = int(n)
	return nil
}

func (v *umaskValue) Type() string { return "octal" }
