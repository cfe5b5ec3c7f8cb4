package main

import (
	"bytes"
	"github.com/spf13/pflag"
	"os"
	"strings"
	"testing"
)

// TestConfigurationReferenceUpToDate: docs/configuration.md is exactly what
// the flag definitions generate, and lists every visible flag.
func TestConfigurationReferenceUpToDate(t *testing.T) {
	var b bytes.Buffer
	if err := printReference(&b); err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(committed, b.Bytes()) {
		t.Errorf("docs/configuration.md differs from the flags; regenerate it: go generate ./cmd/b2fs")
	}
	var c config
	newFlagSet(&c).VisitAll(func(f *pflag.Flag) {
		if f.Hidden || f.Name == "options" {
			return
		}
		if !strings.Contains(b.String(), "`--"+f.Name) {
			t.Errorf("the reference lacks --%s", f.Name)
		}
	})
	if !strings.Contains(b.String(), "`-h, --help`") || !strings.Contains(b.String(), "## Mount options (-o)") {
		t.Error("the reference lacks --help or the -o section")
	}
}
