package main

import (
	"io"
	"strings"

	"github.com/b2fs/b2fs/internal/manpage"
	"github.com/spf13/pflag"
)

// writeManPage writes b2fs(1) from the flag definitions and the --help text
// (b2fs --man; scripts/package.sh ships it).
func writeManPage(w io.Writer, fl *pflag.FlagSet) error {
	p := manpage.Page{
		Name: "b2fs", Section: "1", Manual: "User Commands",
		Source:  strings.Fields(versionString())[1],
		Summary: "mount a Backblaze B2 bucket as a local directory (FUSE)",
	}
	// The intro: the usage lines become the synopsis, the rest the
	// description.
	var desc []string
	for _, l := range strings.Split(usageIntro, "\n") {
		usage := strings.HasPrefix(l, "usage:") || strings.HasPrefix(l, " ")
		l = strings.TrimPrefix(l, "usage:")
		switch t := strings.TrimSpace(l); {
		case usage && (strings.HasPrefix(t, "b2fs ") || strings.HasPrefix(t, "mount ")):
			t = strings.TrimSpace(strings.Split(t, "  ")[0])
			p.Synopsis = append(p.Synopsis, t)
		default:
			desc = append(desc, l)
		}
	}
	p.Synopsis = append(p.Synopsis, "mount.fuse.b2fs SOURCE MOUNTPOINT [-fnsv] [-o OPTIONS]")
	p.Description = strings.Join(desc, "\n")
	for _, g := range flagGroups {
		flags := manpage.FlagsOf(fl, g.names)
		if g.title == "other" {
			var names []string
			fl.VisitAll(func(f *pflag.Flag) {
				if !grouped(f.Name) {
					names = append(names, f.Name)
				}
			})
			flags = append(flags, manpage.FlagsOf(fl, names)...)
			if fl.Lookup("help") == nil {
				h := pflag.NewFlagSet("help", pflag.ContinueOnError)
				h.BoolP("help", "h", false, "show the help and exit")
				flags = append(flags, h.Lookup("help"))
			}
		}
		p.Groups = append(p.Groups, manpage.Group{Title: g.title, Flags: flags})
	}
	// The help's closing paragraphs: examples, fstab, -o, exit status.
	titles := map[string]string{"examples:": "Examples", "fstab:": "Fstab", "-o OPTIONS": "Mount options", "Exit status:": "Exit status"}
	for _, para := range strings.Split(strings.Trim(usageExamples, "\n"), "\n\n") {
		for prefix, title := range titles {
			if strings.HasPrefix(para, prefix) {
				body := para
				if strings.HasSuffix(prefix, ":") {
					body = strings.TrimPrefix(para, prefix)
				}
				p.Sections = append(p.Sections, manpage.Section{Title: title, Text: body})
			}
		}
	}
	p.Sections = append(p.Sections,
		manpage.Section{Title: "Files", Text: `  /etc/b2fs/NAME.conf                 settings of b2fs@NAME.service
  /etc/b2fs/NAME.key                  its application key (mode 0600)
  /etc/b2fs/b2fs.conf.example         an example of NAME.conf
  /lib/systemd/system/b2fs@.service   the unit template, one instance per mount
  /sbin/mount.fuse.b2fs               the mount(8) helper (a link to b2fs)
  /var/cache/b2fs/NAME                staged files of b2fs@NAME (CacheDirectory=)`},
		manpage.Section{Title: "See also", Text: "b2emu(1), mount(8), fstab(5), fusermount3(1), systemd.service(5), systemd.exec(5)"},
	)
	return p.Write(w)
}

// grouped reports whether a flag is listed in one of the named groups.
func grouped(name string) bool {
	for _, g := range flagGroups {
		for _, n := range g.names {
			if n == name {
				return true
			}
		}
	}
	return false
}
