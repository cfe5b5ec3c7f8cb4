package main

import (
	"io"

	"github.com/b2fs/b2fs/internal/manpage"
	"github.com/spf13/pflag"
)

// writeManPage writes b2emu(1) from the flag definitions (b2emu --man;
// scripts/package.sh ships it).
func writeManPage(w io.Writer, fl *pflag.FlagSet) error {
	return manpage.Page{
		Name: "b2emu", Section: "1", Manual: "User Commands", Source: "b2fs",
		Summary:  "Backblaze B2 Native API emulator for testing b2fs and other B2 clients",
		Synopsis: []string{"b2emu [--listen ADDR] [--key-id ID] [--bucket NAME]... [--data DIR] [flags]"},
		Description: `b2emu serves the B2 Native API (authorization, buckets, files, large
files, listings, downloads) over HTTP from memory or a data directory, for
tests, benchmarks and demos. It is not a storage service: keep it on
127.0.0.1.

The master application key comes from the environment variable B2EMU_KEY
(or --key, which puts it in the process arguments).`,
		Groups: []manpage.Group{{Flags: manpage.FlagsOf(fl, nil)}},
		Sections: []manpage.Section{
			{Title: "Examples", Text: `  B2EMU_KEY=secret b2emu --listen 127.0.0.1:8180 --key-id test --bucket demo --sample
  B2EMU_KEY=secret b2emu --data /var/lib/b2emu --latency 20ms --bandwidth 50MB`},
			{Title: "See also", Text: "b2fs(1)"},
		},
	}.Write(w)
}
