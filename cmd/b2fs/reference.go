package main

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/pflag"
)

//go:generate sh -c "go run . --print-config-reference > ../../docs/configuration.md"

// printReferenceArg makes b2fs print docs/configuration.md, generated from
// the flag definitions, instead of mounting. It is not a flag: it works only
// as the sole argument.
const printReferenceArg = "--print-config-reference"

// referenceDefaults replaces defaults that depend on the machine or the
// user running the generator.
var referenceDefaults = map[string]string{
	"cache-dir": "`/var/cache/b2fs` (root), `$XDG_CACHE_HOME/b2fs` (others)",
	"uid":       "the mounting user",
	"gid":       "the mounting user's group",
	"umask":     "`022`",
}

const referenceIntro = `# b2fs configuration reference

<!-- Generated from the flag definitions in cmd/b2fs; do not edit.
     Regenerate: go generate ./cmd/b2fs
     (or: go run ./cmd/b2fs --print-config-reference > docs/configuration.md) -->

This page is generated from the flag definitions in ` + "`cmd/b2fs`" + `
(` + "`go generate ./cmd/b2fs`" + ` rewrites it; a test fails when it is out of date).

` + "```" + `
b2fs [flags] [BUCKET[/PREFIX]] MOUNTPOINT
b2fs --demo MOUNTPOINT
b2fs sync [--timeout DURATION] MOUNTPOINT
b2fs status [--json] MOUNTPOINT
mount.fuse.b2fs SOURCE MOUNTPOINT [-fnsv] [-o OPTIONS]     (as mount(8) helper)
b2fs --version | --help
` + "```" + `

Every flag can also be given as a mount option: ` + "`-o NAME=VALUE`" + ` (or ` + "`-o NAME`" + `
for a flag that is true or false), which is how fstab and ` + "`mount -t fuse.b2fs`" + `
pass them. Sizes take ` + "`B`, `K`/`KiB`, `M`/`MiB`, `G`/`GiB`" + ` (powers of 1024);
durations Go's form (` + "`30s`, `5m`, `1h`" + `).
`

const referenceTail = `
## Mount options (-o)

Comma separated, repeatable, as mount(8) passes them.

| option | meaning |
|---|---|
| ` + "`ro`, `rw`" + ` | read-only / read-write (the last one wins) |
| ` + "`allow_other`" + ` | ` + "`--allow-other`" + ` (needs ` + "`user_allow_other`" + ` in ` + "`/etc/fuse.conf`" + ` for non-root) |
| ` + "`default_permissions`" + ` | ` + "`--default-permissions`" + ` (already the default) |
| ` + "`uid=N`, `gid=N`" + ` | ` + "`--uid`, `--gid`" + ` |
| ` + "`umask=OCTAL`" + ` | ` + "`--umask`" + ` |
| ` + "`dir_mode=OCTAL`, `file_mode=OCTAL`" + ` | permission bits of directories and files without stored metadata (defaults 0755, 0644) |
| ` + "`NAME=VALUE`, `NAME`" + ` | any long flag above, e.g. ` + "`credentials-file=/etc/b2fs/k`, `dir-cache-ttl=5m`, `read-only`" + ` |
| %s | for mount(8) and systemd; ignored |

Anything else is a usage error.

## Environment

| variable | meaning |
|---|---|
| ` + "`B2_APPLICATION_KEY_ID`, `B2_APPLICATION_KEY`" + ` | credentials when no ` + "`--credentials-file`" + ` is given |
| ` + "`NOTIFY_SOCKET`" + ` | systemd readiness and status (` + "`Type=notify`" + `) |
| ` + "`WATCHDOG_USEC`" + ` | systemd watchdog (` + "`WatchdogSec=`" + `) |
| ` + "`JOURNAL_STREAM`" + ` | logs without timestamps (the journal adds them) |

## Exit status

| status | when |
|---|---|
| 0 | clean unmount with every change in B2; ` + "`--version`, `--help`" + `; the mount helper's ` + "`-f`" + ` |
| 1 | errors: bad credentials, B2 unreachable within ` + "`--startup-timeout`" + `, missing bucket, unusable mount point, changes that could not be uploaded before exiting (kept in the cache directory for the next start) |
| 2 | usage errors (one line on stderr); systemd units may keep it out of ` + "`Restart=`" + ` |
`

// printReference writes the configuration reference (Markdown).
func printReference(w io.Writer) error {
	var c config
	fl := newFlagSet(&c)
	var b strings.Builder
	b.WriteString(referenceIntro)
	seen := map[string]bool{"options": true} // -o has its own section
	row := func(f *pflag.Flag) {
		name, usage := pflag.UnquoteUsage(f)
		flag := "`--" + f.Name
		if f.Shorthand != "" {
			flag = "`-" + f.Shorthand + ", --" + f.Name
		}
		if name != "" && f.Value.Type() != "bool" {
			flag += " " + argName(name, f.DefValue)
		}
		flag += "`"
		def, ok := referenceDefaults[f.Name]
		switch {
		case ok:
		case f.DefValue == "" || f.DefValue == "[]":
			def = "–"
		default:
			def = "`" + f.DefValue + "`"
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", flag, def, strings.ReplaceAll(usage, "|", "\\|"))
		seen[f.Name] = true
	}
	for _, g := range flagGroups {
		var flags []*pflag.Flag
		for _, n := range g.names {
			if f := fl.Lookup(n); f != nil && !f.Hidden && !seen[n] {
				flags = append(flags, f)
			}
		}
		if g.title == "other" {
			fl.VisitAll(func(f *pflag.Flag) {
				if !seen[f.Name] && !f.Hidden && !contains(flags, f) {
					flags = append(flags, f)
				}
			})
		}
		if len(flags) == 0 && g.title != "other" {
			continue
		}
		fmt.Fprintf(&b, "\n## %s\n\n| flag | default | meaning |\n|---|---|---|\n", capitalize(g.title))
		for _, f := range flags {
			row(f)
		}
		if g.title == "other" {
			b.WriteString("| `-h, --help` | – | grouped help with examples |\n")
		}
	}
	b.WriteString("\n## Commands for a running mount\n\nThey talk to the b2fs serving MOUNTPOINT over its control socket (its owner and root only; see\n[write-back.md](write-back.md#control)). Exit status 0 when done, 1 when not (timeout, upload refused, not a b2fs mount,\npermission denied, b2fs not running), 2 on usage errors.\n")
	for _, cc := range controlCommands {
		fmt.Fprintf(&b, "\n### `b2fs %s %s`\n\n%s.\n\n| flag | default | meaning |\n|---|---|---|\n", cc.name, cc.args, capitalize(cc.help))
		controlFlagSet(cc.name, &controlArgs{}).VisitAll(row)
	}
	var ignored []string
	for o := range ignoredMountOptions {
		ignored = append(ignored, o)
	}
	sort.Strings(ignored)
	ignored = append(ignored, "x-*", "comment=*")
	fmt.Fprintf(&b, referenceTail, "`"+strings.Join(ignored, "`, `")+"`")
	_, err := io.WriteString(w, b.String())
	return err
}

func contains(fs []*pflag.Flag, f *pflag.Flag) bool {
	for _, x := range fs {
		if x == f {
			return true
		}
	}
	return false
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// argName names a flag's argument: pflag's type names in upper case, and
// SIZE for the string flags that hold sizes.
func argName(name, def string) string {
	switch name {
	case "string":
		if _, err := parseSize(def); err == nil {
			return "SIZE"
		}
		return "VALUE"
	case "int":
		return "N"
	}
	return strings.ToUpper(name)
}
