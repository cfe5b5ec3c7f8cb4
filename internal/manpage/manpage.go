// Package manpage writes a Unix manual page (roff, man(7) macros) from a
// program's pflag definitions and a few paragraphs of text, so that the
// page shipped in the Debian package always lists the flags the binary
// has, with their real defaults.
package manpage

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"
)

// Page is one manual page.
type Page struct {
	Name    string // program name, e.g. "b2fs"
	Section string // manual section, e.g. "1"
	Summary string // the NAME line after the dash
	Source  string // footer: package and version
	Manual  string // header: e.g. "User Commands"
	// Synopsis lines, each one way to call the program.
	Synopsis []string
	// Description is plain text: paragraphs separated by blank lines;
	// lines indented by two or more spaces are shown as written.
	Description string
	// Groups list the flags, one subsection each, in order.
	Groups []Group
	// Sections follow OPTIONS (EXAMPLES, FILES, EXIT STATUS, SEE ALSO...).
	Sections []Section
}

// Group is a titled list of flags.
type Group struct {
	Title string
	Flags []*pflag.Flag
}

// Section is a top-level section with plain text (see Description).
type Section struct {
	Title string
	Text  string
}

// Write renders the page.
func (p Page) Write(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, ".TH %s %s \"\" %s %s\n", strings.ToUpper(p.Name), p.Section, quote(p.Source), quote(p.Manual))
	b.WriteString(".SH NAME\n")
	fmt.Fprintf(&b, "%s \\- %s\n", escape(p.Name), escape(p.Summary))
	if len(p.Synopsis) > 0 {
		b.WriteString(".SH SYNOPSIS\n")
		for i, s := range p.Synopsis {
			if i > 0 {
				b.WriteString(".br\n")
			}
			b.WriteString(synopsisLine(s) + "\n")
		}
	}
	if p.Description != "" {
		b.WriteString(".SH DESCRIPTION\n")
		text(&b, p.Description)
	}
	if len(p.Groups) > 0 {
		b.WriteString(".SH OPTIONS\n")
		for _, g := range p.Groups {
			if len(g.Flags) == 0 {
				continue
			}
			if g.Title != "" {
				fmt.Fprintf(&b, ".SS %s\n", escape(capitalize(g.Title)))
			}
			for _, f := range g.Flags {
				writeFlag(&b, f)
			}
		}
	}
	for _, s := range p.Sections {
		fmt.Fprintf(&b, ".SH %s\n", escape(strings.ToUpper(s.Title)))
		text(&b, s.Text)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// FlagsOf returns the visible flags of fl named in names, in that order,
// or all visible flags in definition order when names is nil.
func FlagsOf(fl *pflag.FlagSet, names []string) []*pflag.Flag {
	var out []*pflag.Flag
	if names == nil {
		fl.VisitAll(func(f *pflag.Flag) {
			if !f.Hidden {
				out = append(out, f)
			}
		})
		return out
	}
	for _, n := range names {
		if f := fl.Lookup(n); f != nil && !f.Hidden {
			out = append(out, f)
		}
	}
	return out
}

func writeFlag(b *strings.Builder, f *pflag.Flag) {
	varname, usage := pflag.UnquoteUsage(f)
	b.WriteString(".TP\n")
	if f.Shorthand != "" {
		fmt.Fprintf(b, "\\fB\\-%s\\fR, ", escape(f.Shorthand))
	}
	fmt.Fprintf(b, "\\fB\\-\\-%s\\fR", escape(f.Name))
	if varname != "" && f.Value.Type() != "bool" {
		fmt.Fprintf(b, " \\fI%s\\fR", escape(varname))
	}
	b.WriteString("\n")
	line := usage
	switch d := f.DefValue; {
	case d == "" || d == "[]" || f.Value.Type() == "bool" && d == "false":
	case f.Value.Type() == "string":
		line += fmt.Sprintf(" (default %q)", d)
	default:
		line += fmt.Sprintf(" (default %s)", d)
	}
	b.WriteString(escapeLine(escape(line)) + "\n")
}

// synopsisLine sets the program name and flags in bold.
func synopsisLine(s string) string {
	var out []string
	for i, w := range strings.Fields(s) {
		switch {
		case i == 0 || strings.HasPrefix(w, "-"):
			out = append(out, "\\fB"+escape(w)+"\\fR")
		default:
			out = append(out, escape(w))
		}
	}
	return escapeLine(strings.Join(out, " "))
}

// text renders plain paragraphs.
func text(b *strings.Builder, s string) {
	lines := strings.Split(strings.Trim(s, "\n"), "\n")
	inPara, inPre := false, false
	for _, l := range lines {
		pre := strings.HasPrefix(l, "  ")
		switch {
		case strings.TrimSpace(l) == "":
			if inPre {
				b.WriteString(".fi\n.RE\n")
				inPre = false
			}
			inPara = false
			continue
		case pre && !inPre:
			b.WriteString(".RS 2\n.nf\n")
			inPre, inPara = true, false
		case !pre && inPre:
			b.WriteString(".fi\n.RE\n")
			inPre = false
			fallthrough
		case !pre && !inPara:
			b.WriteString(".PP\n")
			inPara = true
		}
		if inPre {
			l = strings.TrimPrefix(l, "  ")
		} else {
			l = strings.TrimSpace(l)
		}
		b.WriteString(escapeLine(escape(l)) + "\n")
	}
	if inPre {
		b.WriteString(".fi\n.RE\n")
	}
}

// escape protects roff's special characters in running text.
func escape(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	return strings.ReplaceAll(s, "-", `\-`)
}

// escapeLine keeps a line that starts with a control character from being
// read as a request.
func escapeLine(s string) string {
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		return `\&` + s
	}
	return s
}

func quote(s string) string {
	return `"` + strings.ReplaceAll(escape(s), `"`, `\(dq`) + `"`
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
