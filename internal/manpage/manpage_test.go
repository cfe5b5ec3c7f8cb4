package manpage

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func TestWrite(t *testing.T) {
	fl := pflag.NewFlagSet("x", pflag.ContinueOnError)
	fl.String("cache-dir", "/var/cache/x", "staging `DIR`")
	fl.BoolP("verbose", "v", false, "talk more")
	fl.Int("hidden", 1, "not shown")
	_ = fl.MarkHidden("hidden")
	var b strings.Builder
	err := Page{
		Name: "x", Section: "1", Summary: "does x", Source: "x 1.0", Manual: "User Commands",
		Synopsis:    []string{"x [--verbose] DIR"},
		Description: ".starts with a dot\nback\\slash\n\n  indented -o line\n\nafter",
		Groups:      []Group{{Title: "main", Flags: FlagsOf(fl, nil)}},
	}.Write(&b)
	if err != nil {
		t.Fatal(err)
	}
	got := b.String()
	for _, want := range []string{
		".TH X 1 \"\" \"x 1.0\" \"User Commands\"\n",
		"x \\- does x\n",
		"\\fBx\\fR [\\-\\-verbose] DIR\n",
		"\\&.starts with a dot\nback\\eslash\n",
		".RS 2\n.nf\nindented \\-o line\n.fi\n.RE\n.PP\nafter\n",
		".SS Main\n",
		".TP\n\\fB\\-\\-cache\\-dir\\fR \\fIDIR\\fR\nstaging DIR (default \"/var/cache/x\")\n",
		".TP\n\\fB\\-v\\fR, \\fB\\-\\-verbose\\fR\ntalk more\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("page lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "hidden") {
		t.Error("hidden flag listed")
	}
}
