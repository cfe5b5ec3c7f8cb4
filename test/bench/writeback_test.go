package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/b2fs/b2fs/test/testenv"
)

// TestWriteBackSuiteQuick runs the write-back suite on tiny sizes
// (loopback, b2fs in both modes, one run) and checks the tables, that cp
// and rsync put every file in B2, and that the block lands between its own
// markers without touching the rest of the file.
// wbQuickTools are the tools of the quick run.
const wbQuickTools = "b2fs"

func TestWriteBackSuiteQuick(t *testing.T) {
	testenv.RequireFUSE(t)
	testenv.RequireTool(t, "cp", "rsync", "git")
	out := filepath.Join(t.TempDir(), "bench.md")
	if err := os.WriteFile(out, []byte("# B\n\n"+beginMarker+"\nmain kept\n"+endMarker+"\n\n## Write-back\n\n"+wbBegin+"\nold\n"+wbEnd+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := parseConfig([]string{"--suite", "writeback", "--profiles", "loopback", "--tools", wbQuickTools,
		"--b2fs", testenv.Binary(t, "b2fs"), "--b2emu", testenv.Binary(t, "b2emu"), "--work", t.TempDir(), "--out", out,
		"--small-files", "12", "--wb-runs", "1", "--step-timeout", "90s"}, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var log, stdout bytes.Buffer
	if code := writeBackMain(ctx, cfg, &stdout, &log); code != 0 {
		t.Fatalf("exit %d:\n%s", code, log.String())
	}
	table := stdout.String()
	t.Log("\n" + table)
	for _, w := range wbWorkloads {
		if !strings.Contains(table, "| "+w+" | ") {
			t.Errorf("no row for %s", w)
		}
	}
	if strings.Contains(table, "error") {
		t.Errorf("a workload failed:\n%s", log.String())
	}
	for _, tool := range strings.Split(wbQuickTools, ",") {
		for _, w := range []string{wbCp, wbRsync} {
			if !strings.Contains(table, "- "+w+" "+tool+": ") || !strings.Contains(table, "upload_file×1") {
				t.Errorf("%s %s: no uploads of the files in the calls:\n%s", w, tool, table)
			}
		}
	}
	doc, _ := os.ReadFile(out)
	if !strings.Contains(string(doc), "main kept") || strings.Contains(string(doc), "\nold\n") || !strings.Contains(string(doc), "| cp | ") {
		t.Errorf("results file:\n%s", doc)
	}
}
