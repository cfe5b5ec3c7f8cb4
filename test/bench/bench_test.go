package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/b2fs/b2fs/test/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.Cleanup()
	os.Exit(code)
}

// TestQuickRun runs the whole driver on tiny sizes, loopback only, with
// b2fs and rclone (defaults), and checks that the table comes out, that
// every read workload measured something, and that b2fs lists a directory
// with ceil(N/10000) class C calls and no class B call.
func TestQuickRun(t *testing.T) {
	testenv.RequireFUSE(t)
	testenv.RequireTool(t, "fio", "rclone", "ls", "find", "cp")
	b2fsBin := testenv.Binary(t, "b2fs")
	emuBin := testenv.Binary(t, "b2emu")
	out := filepath.Join(t.TempDir(), "bench.md")
	if err := os.WriteFile(out, []byte("# Benchmarks\n\nintro kept\n\n"+beginMarker+"\nold\n"+endMarker+"\n\ntrailer kept\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const listFiles = 1500
	cfg, err := parseConfig([]string{"--quick", "--profiles", "loopback", "--tools", "b2fs,rclone",
		"--b2fs", b2fsBin, "--b2emu", emuBin, "--work", t.TempDir(), "--out", out,
		"--size", "8MiB", "--rand-reads", "40", "--small-files", "20", "--list-files", "1500",
		"--tree-files", "60", "--tree-dirs", "6", "--deadline", "3m", "--step-timeout", "60s"}, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var log bytes.Buffer
	rep, err := run(ctx, cfg, &log)
	t.Log(log.String())
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	var stdout bytes.Buffer
	if err := publish(cfg, rep, &stdout); err != nil {
		t.Fatal(err)
	}
	table := stdout.String()
	t.Log("\n" + table)
	if !strings.HasPrefix(table, "| profile | workload | unit | b2fs | rclone | limit |") {
		t.Errorf("table header wrong:\n%s", table)
	}
	for _, w := range rowOrder {
		if w == wHuge { // opt-in, not part of --quick's "all"
			if strings.Contains(table, "| "+w+" |") {
				t.Errorf("table has a %s row without asking for it", w)
			}
			continue
		}
		if !strings.Contains(table, "| loopback | "+w+" |") {
			t.Errorf("table has no row for %s", w)
		}
	}
	need := map[string][]string{
		wSeqRead:  {toolB2fs, toolRclone, limitKey},
		wRandRead: {toolB2fs, toolRclone, limitKey},
		wLsCold:   {toolB2fs, toolRclone, limitKey},
		wLsWarm:   {toolB2fs, toolRclone},
		wFind:     {toolB2fs, toolRclone, limitKey},
		// Writes through rclone and directly always work; b2fs's own
		// write path is checked below.
		wSeqWrite:   {toolRclone, limitKey},
		wSmallFiles: {toolRclone, limitKey},
	}
	for w, who := range need {
		r := rep.find("loopback", w)
		if r == nil {
			t.Errorf("no row %s", w)
			continue
		}
		for _, k := range who {
			res := r.res[k]
			if !res.ok() || res.value <= 0 {
				t.Errorf("%s %s: no measurement: %+v", w, k, res)
			}
		}
		if res := r.res[toolB2fs]; res.ok() && (res.rss <= 0 || !res.callsSet) {
			t.Errorf("%s b2fs: RSS %d, calls set %v", w, res.rss, res.callsSet)
		}
	}
	// b2fs writes: they work once the write path is in (b2fs --help lists
	// --cache-dir); before that they fail with a read-only file system.
	for _, w := range []string{wSeqWrite, wSmallFiles} {
		res := rep.find("loopback", w).res[toolB2fs]
		if b2fsHasFlag(b2fsBin, "--cache-dir") {
			if !res.ok() {
				t.Errorf("%s b2fs: %s", w, res.err)
			}
		} else if res.ok() || !strings.Contains(res.err, "read-only") {
			t.Errorf("%s b2fs on a read-only b2fs: %+v", w, res)
		}
	}
	cold := rep.find("loopback", wLsCold).res[toolB2fs]
	if cold.ok() && (cold.calls.C != ceilDiv(listFiles, 10000) || cold.calls.B != 0) {
		t.Errorf("b2fs ls -l of %d files made %s A/B/C calls, want C=%d and B=0", listFiles, cold.calls, ceilDiv(listFiles, 10000))
	}
	// rclone pages 1000 names at a time.
	if rc := rep.find("loopback", wLsCold).res[toolRclone]; rc.ok() && rc.calls.C < 2 {
		t.Errorf("rclone ls -l of %d files made %s calls; the counting window looks wrong", listFiles, rc.calls)
	}
	if lim := rep.find("loopback", wFind).res[limitKey]; lim.ok() && (lim.calls != calls{C: 1}) {
		t.Errorf("flat listing of the tree made %s calls, want 0/0/1", lim.calls)
	}
	doc, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"intro kept", "trailer kept", "| loopback | ls-cold |", "- Machine: ", "- Command: `"} {
		if !bytes.Contains(doc, []byte(want)) {
			t.Errorf("results file lacks %q:\n%s", want, doc)
		}
	}
	if bytes.Contains(doc, []byte("\nold\n")) {
		t.Errorf("results file still holds the old results:\n%s", doc)
	}
	// Nothing stays mounted.
	if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil && bytes.Contains(b, []byte(cfg.workDir)) {
		t.Errorf("mounts left under %s", cfg.workDir)
	}
}

func TestWriteDoc(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, old, want string
	}{
		{"new file", "", "# Benchmarks\n\n" + beginMarker + "\nBODY\n" + endMarker + "\n"},
		{"no markers", "# T\n\ntext\n", "# T\n\ntext\n\n" + beginMarker + "\nBODY\n" + endMarker + "\n"},
		{"markers", "a\n" + beginMarker + "\nold\n" + endMarker + "\nb\n", "a\n" + beginMarker + "\nBODY\n" + endMarker + "\nb\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_")+".md")
			if tt.old != "" {
				if err := os.WriteFile(p, []byte(tt.old), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := writeDoc(p, "BODY"); err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(p)
			if string(got) != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		err  bool
	}{
		{"1GiB", 1 << 30, false}, {"64MiB", 64 << 20, false}, {"40MB", 40_000_000, false},
		{"4096", 4096, false}, {"1.5Ki", 1536, false}, {"x", 0, true}, {"-1", 0, true},
	}
	for _, tt := range tests {
		got, err := parseSize(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d, err %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestPattern(t *testing.T) {
	p := newPattern(3*blockSize + 100)
	whole := make([]byte, p.size)
	if n, err := p.ReadAt(whole, 0); n != len(whole) || err != nil {
		t.Fatalf("ReadAt whole: %d, %v", n, err)
	}
	// Any sub-range read on its own equals the same bytes of the whole.
	for _, c := range []struct{ off, n int64 }{{0, 10}, {5, 20}, {blockSize - 3, 16}, {2*blockSize + 1, blockSize}, {p.size - 7, 7}} {
		b := make([]byte, c.n)
		if n, _ := p.ReadAt(b, c.off); int64(n) != c.n || !bytes.Equal(b, whole[c.off:c.off+c.n]) {
			t.Errorf("ReadAt(%d, %d) differs from the whole", c.off, c.n)
		}
		if !p.check(b, c.off, nil) {
			t.Errorf("check(%d, %d) = false", c.off, c.n)
		}
	}
	if bytes.Equal(whole[:blockSize], whole[blockSize:2*blockSize]) {
		t.Error("blocks are identical; the pattern is not position dependent")
	}
	if p.check(whole[:100], 1, nil) {
		t.Error("check accepted data at the wrong offset")
	}
}

func TestTargets(t *testing.T) {
	cfg := &config{listFiles: 10000, treeFiles: 5000, bigDirFiles: 100000, tools: []string{toolB2fs, toolRclone}}
	wan := profile{Name: "wan", Latency: time.Millisecond}
	lo := profile{Name: "loopback"}
	ok := func(v float64, rss int64) *result { return &result{value: v, rss: rss << 20} }
	withCalls := func(c calls) *result { return &result{value: 1, rss: 10 << 20, calls: c, callsSet: true} }
	tests := []struct {
		name    string
		prof    profile
		row     string
		res     map[string]*result
		verdict string
	}{
		{"read pass", wan, wSeqRead, map[string]*result{toolB2fs: ok(90, 100), limitKey: ok(100, 0), toolRclone: ok(40, 50)}, "PASS"},
		{"read under limit", lo, wSeqRead, map[string]*result{toolB2fs: ok(70, 100), limitKey: ok(100, 0)}, "MISS: 0.70×limit"},
		{"read vs rclone on wan", wan, wSeqRead, map[string]*result{toolB2fs: ok(90, 100), limitKey: ok(100, 0), toolRclone: ok(60, 50)}, "MISS: 1.50×rclone"},
		{"rss", lo, wSeqWrite, map[string]*result{toolB2fs: ok(80, 400), limitKey: ok(100, 0), toolRclone: ok(70, 50)}, "MISS: RSS 400 MiB"},
		{"no rclone", wan, wRandRead, map[string]*result{toolB2fs: ok(10, 20)}, "PASS (unchecked: no rclone result)"},
		{"ls one call", lo, wLsCold, map[string]*result{toolB2fs: withCalls(calls{C: 1})}, "PASS (unchecked: no rclone result)"},
		{"ls class B", lo, wLsCold, map[string]*result{toolB2fs: withCalls(calls{B: 3, C: 1}), toolRclone: ok(1, 50)}, "MISS: C=1 B=3"},
		{"find per directory", lo, wFind, map[string]*result{toolB2fs: withCalls(calls{C: 101}), toolRclone: ok(2, 50)}, "MISS: C=101 B=0"},
		{"warm no call", lo, wLsWarm, map[string]*result{toolB2fs: withCalls(calls{}), toolRclone: ok(2, 50)}, "PASS"},
		{"warm slower than rclone", lo, wLsWarm, map[string]*result{toolB2fs: withCalls(calls{}), toolRclone: ok(0.5, 50)}, "MISS: 0.50×rclone"},
		{"warm as fast as rclone is not faster", lo, wLsWarm, map[string]*result{toolB2fs: withCalls(calls{}), toolRclone: ok(1, 50)}, "MISS: 1.00×rclone"},
		{"cold as fast as rclone", lo, wLsCold, map[string]*result{toolB2fs: withCalls(calls{C: 1}), toolRclone: ok(1, 50)}, "PASS"},
		{"write slower than rclone", lo, wSeqWrite, map[string]*result{toolB2fs: ok(80, 20), limitKey: ok(100, 0), toolRclone: ok(90, 50)}, "MISS: 0.89×rclone"},
		{"write under limit", lo, wSeqWrite, map[string]*result{toolB2fs: ok(60, 20), limitKey: ok(100, 0), toolRclone: ok(50, 50)}, "MISS: 0.60×limit"},
		{"rss over 150 MiB", lo, wRandRead, map[string]*result{toolB2fs: ok(10, 160), toolRclone: ok(5, 50)}, "MISS: RSS 160 MiB"},
		{"big dir", lo, wBigCold, map[string]*result{toolB2fs: withCalls(calls{C: 10}), toolRclone: ok(2.5, 50)}, "PASS"},
		{"big dir under 2x rclone", lo, wBigCold, map[string]*result{toolB2fs: withCalls(calls{C: 10}), toolRclone: ok(1.5, 50)}, "MISS: 1.50×rclone"},
		{"big dir calls", lo, wBigCold, map[string]*result{toolB2fs: withCalls(calls{C: 12}), toolRclone: ok(2.5, 50)}, "MISS: C=12 B=0"},
		{"huge walk bounded", lo, wHuge, map[string]*result{toolB2fs: ok(300, 230)}, "PASS"},
		{"huge walk unbounded", lo, wHuge, map[string]*result{toolB2fs: ok(300, 900)}, "MISS: RSS 900 MiB"},
		{"error", lo, wFind, map[string]*result{toolB2fs: {err: "boom"}}, "MISS: error"},
		{"skipped", lo, wFind, map[string]*result{toolB2fs: {err: "skipped: run interrupted"}}, "not run"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rp := &report{cfg: cfg, profiles: []profile{tt.prof}}
			r := rp.row(tt.prof.Name, tt.row)
			r.res = tt.res
			if _, got := rp.target(r); got != tt.verdict {
				t.Errorf("verdict %q, want %q", got, tt.verdict)
			}
		})
	}
}

// TestBigDirWarmVsCold: a warm big-directory listing slower than the cold
// one misses its target even when both beat rclone.
func TestBigDirWarmVsCold(t *testing.T) {
	cfg := &config{bigDirFiles: 100000, tools: []string{toolB2fs, toolRclone}}
	lo := profile{Name: "loopback"}
	res := func(v float64) *result { return &result{value: v, rss: 100 << 20, calls: calls{C: 10}, callsSet: true} }
	for _, tt := range []struct {
		cold, warm float64
		verdict    string
	}{
		{3, 1, "PASS"},
		{3, 4, "MISS: 0.75×cold"},
	} {
		rp := &report{cfg: cfg, profiles: []profile{lo}}
		rp.row("loopback", wBigCold).res = map[string]*result{toolB2fs: res(tt.cold), toolRclone: res(10)}
		w := rp.row("loopback", wBigWarm)
		w.res = map[string]*result{toolB2fs: res(tt.warm), toolRclone: res(10)}
		if _, got := rp.target(w); got != tt.verdict {
			t.Errorf("cold %v warm %v: verdict %q, want %q", tt.cold, tt.warm, got, tt.verdict)
		}
	}
}

// TestAppendBigDir: the seeded names land in b2emu's journal format for
// the bench bucket, after the journal's highest sequence number.
func TestAppendBigDir(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	head := `{"t":"bucket","b":{"id":"B1","name":"other","type":"allPrivate","info":{},"revision":1}}
{"t":"bucket","b":{"id":"B2","name":"bench","type":"allPrivate","info":{},"revision":1}}
{"t":"file","f":{"id":"x","seq":41,"bucket":"B2","name":"a","action":"upload"}}
{"t":"key","k":{"id":"000400000000077"}}
`
	if err := os.WriteFile(path, []byte(head), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := appendBigDir(path, "bench", 3, time.UnixMilli(1_800_000_000_000)); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 7 || strings.Join(lines[:4], "\n")+"\n" != head {
		t.Fatalf("journal:\n%s", b)
	}
	for i, l := range lines[4:] {
		for _, want := range []string{`"t":"file"`, `"bucket":"B2"`, `"name":"` + bigDirName(i) + `"`, fmt.Sprintf(`"seq":%d`, 78+i), `"action":"upload"`, `"sha1":"` + emptySHA1 + `"`} {
			if !strings.Contains(l, want) {
				t.Errorf("record %d lacks %s: %s", i, want, l)
			}
		}
	}
	if err := appendBigDir(path, "missing", 1, time.Now()); err == nil {
		t.Error("seeding a bucket the journal lacks succeeded")
	}
}
