package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"
)

const usageIntro = `b2fs mounts a Backblaze B2 bucket (or a prefix inside it, or a whole account)
as a local directory, so ordinary tools (ls, cp, rsync, tar, editors) work on it.

usage: b2fs [flags] [BUCKET[/PREFIX]] MOUNTPOINT
       b2fs --demo MOUNTPOINT
       b2fs sync [--timeout DURATION] MOUNTPOINT   wait until every change so far is in B2
       b2fs status [--json] MOUNTPOINT             pending uploads, rate, errors, B2 calls and cost
       mount -t fuse.b2fs BUCKET[/PREFIX] MOUNTPOINT -o OPTIONS   (as mount helper)

Without BUCKET the mount's root lists the account's buckets. b2fs runs in the
foreground (use --daemon, or the mount helper, to run in the background);
SIGTERM or SIGINT unmounts after uploads finish. Credentials come from
B2_APPLICATION_KEY_ID and B2_APPLICATION_KEY, or --credentials-file (under
systemd: LoadCredential= and --credentials-file "$CREDENTIALS_DIRECTORY/b2").
b2fs sync and b2fs status talk to the b2fs serving MOUNTPOINT (its owner or
root only); a bucket named "status" is mounted as "b2fs status/ MOUNTPOINT".
`

const usageExamples = `
examples:
  b2fs --demo /mnt/demo                        try b2fs on a built-in sample bucket
  b2fs my-bucket /mnt/b2                       mount a bucket (key in the environment)
  b2fs --credentials-file /etc/b2fs/creds -o ro,allow_other my-bucket/photos /mnt/photos
  b2fs --metrics-addr 127.0.0.1:9464 --shutdown-timeout 10m my-bucket /mnt/b2
  mount -t fuse.b2fs my-bucket /mnt/b2 -o credentials-file=/etc/b2fs/creds,allow_other
  systemctl enable --now b2fs@media            (config in /etc/b2fs/media.conf)
  b2fs sync --timeout 10m /mnt/b2              wait until every change made so far is in B2
  b2fs status /mnt/b2                          what is pending, the upload rate, errors, B2 calls and cost

fstab:
  my-bucket  /mnt/b2  fuse.b2fs  _netdev,x-systemd.automount,credentials-file=/etc/b2fs/creds  0 0

-o OPTIONS (comma separated, repeatable): ro, rw, allow_other, uid=N, gid=N,
umask=OCTAL, dir_mode=OCTAL, file_mode=OCTAL, and every long flag above as
name=value (e.g. -o dir-cache-ttl=5m,read-only). mount(8) and systemd options
(defaults, auto, noauto, nofail, _netdev, user, nouser, users, dev, nodev,
suid, nosuid, exec, noexec, atime, noatime, relatime, async, x-* (x-systemd.*),
comment=*) are accepted and ignored.

Exit status: 0 after a clean unmount with every change in B2; 1 on errors
(including changes that could not be uploaded before exiting: they are kept
in the cache directory and uploaded at the next start); 2 on usage errors.
b2fs sync and b2fs status: 0 when done; 1 when not (timeout, an upload
refused, not a b2fs mount, permission denied, b2fs not running); 2 on usage
errors.
Every flag and option: docs/configuration.md.
`

// flagGroups orders the help. Flags in no group are listed under "other".
var flagGroups = []struct {
	title string
	names []string
}{
	{"B2 account", []string{"credentials-file", "endpoint", "demo"}},
	{"mount", []string{"options", "read-only", "daemon", "versions-dir"}},
	{"ownership and permissions", []string{"uid", "gid", "umask", "allow-other", "default-permissions", "xattrs"}},
	{"metadata cache", []string{"dir-cache-ttl", "attr-cache-ttl", "negative-cache-ttl", "cache-max-entries", "list-prefetch-pages", "max-file-inodes"}},
	{"reading", []string{"read-ahead-max", "read-ahead-window", "read-chunk-size", "kernel-read-ahead", "read-cache-size", "passthrough"}},
	{"writing", []string{"cache-dir", "cache-max-size", "part-size", "upload-cutoff", "upload-concurrency", "streamed-sha1", "hard-delete", "dir-markers", "max-rename-files", "metadata-delay"}},
	{"service", []string{"startup-timeout", "shutdown-timeout", "metrics-addr", "memory-target"}},
	{"logging", []string{"log-level", "log-format", "log-file", "debug-fuse"}},
	{"other", []string{"version", "help"}},
}

// printUsage writes the grouped help.
func printUsage(w io.Writer, fl *pflag.FlagSet) {
	var b strings.Builder
	b.WriteString(usageIntro)
	seen := map[string]bool{}
	for _, g := range flagGroups {
		sub := pflag.NewFlagSet(g.title, pflag.ContinueOnError)
		sub.SortFlags = false
		for _, n := range g.names {
			if f := fl.Lookup(n); f != nil {
				sub.AddFlag(f)
				seen[n] = true
			}
		}
		if g.title == "other" {
			fl.VisitAll(func(f *pflag.Flag) {
				if !seen[f.Name] {
					sub.AddFlag(f)
					seen[f.Name] = true
				}
			})
			if fl.Lookup("help") == nil {
				sub.BoolP("help", "h", false, "show this help")
			}
		}
		if u := sub.FlagUsages(); u != "" {
			fmt.Fprintf(&b, "\n%s:\n%s", g.title, u)
		}
	}
	b.WriteString(usageExamples)
	io.WriteString(w, b.String())
}
