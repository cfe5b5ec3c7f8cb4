package service

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/b2fs/b2fs/test/b2emu"
	"github.com/b2fs/b2fs/test/testenv"
)

// metricNameRE finds metric names in PromQL (b2fs's own and the Go and
// process collectors').
var metricNameRE = regexp.MustCompile(`\b(?:b2fs|go|process)_[a-z0-9_]+\b`)

// dashboardExprs returns every PromQL expression of the Grafana dashboard:
// the panels' targets and the template variables' queries.
func dashboardExprs(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var d any
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok && (k == "expr" || k == "definition") {
					out = append(out, s)
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(d)
	return out
}

// ruleExprs returns the non-comment text of the alert rules' expressions.
func ruleExprs(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	inExpr := false
	for _, l := range strings.Split(string(b), "\n") {
		s := strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(s, "#"):
		case strings.HasPrefix(s, "expr:"):
			out = append(out, strings.TrimPrefix(s, "expr:"))
			inExpr = true
		case inExpr && strings.HasPrefix(l, "          "): // the block of "expr: |"
			out[len(out)-1] += " " + s
		default:
			inExpr = false
		}
	}
	return out
}

// TestDashboardAndAlertRules: the alert rules pass promtool's check and
// its rule unit tests (each alert fires on its problem and stays quiet on
// a healthy mount), and every metric the dashboard and the rules query is
// exposed by a real b2fs mounted over b2emu after an ordinary workload.
func TestDashboardAndAlertRules(t *testing.T) {
	testenv.RequireTool(t, "promtool")
	mon := filepath.Join(testenv.RepoRoot(t), "scripts", "monitoring")
	for _, args := range [][]string{{"check", "rules", "b2fs-alerts.yml"}, {"test", "rules", "b2fs-alerts.test.yml"}} {
		cmd := exec.Command("promtool", args...)
		cmd.Dir = mon
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}

	wanted := map[string][]string{} // metric name -> where it is used
	for _, s := range dashboardExprs(t, filepath.Join(mon, "b2fs-dashboard.json")) {
		for _, n := range metricNameRE.FindAllString(s, -1) {
			wanted[n] = append(wanted[n], "dashboard")
		}
	}
	rules := ruleExprs(t, filepath.Join(mon, "b2fs-alerts.yml"))
	if len(rules) != 8 {
		t.Errorf("found %d rule expressions, want 8", len(rules))
	}
	for _, s := range rules {
		for _, n := range metricNameRE.FindAllString(s, -1) {
			wanted[n] = append(wanted[n], "alerts")
		}
	}
	for _, n := range []string{"b2fs_b2_calls_total", "b2fs_oldest_pending_upload_seconds", "b2fs_fuse_op_duration_seconds_bucket", "b2fs_staging_limit_bytes", "b2fs_cache_hits_total"} {
		if wanted[n] == nil {
			t.Errorf("the dashboard and rules do not use %s (is the extraction broken?)", n)
		}
	}

	e := newEnv(t, b2emu.Options{})
	if _, err := e.ts.PutFile(bucket, "seeded.bin", testenv.Pattern(5, 300_000), nil); err != nil {
		t.Fatal(err)
	}
	cacheDir := mkdir(t, "cache")
	p := e.start(procOpts{CacheDir: cacheDir, Args: []string{"--metrics-addr", "127.0.0.1:0", "--cache-max-size", "1GiB"}})
	m := metricsAddrRE.FindStringSubmatch(p.out.String())
	if m == nil {
		t.Fatalf("no metrics address in the log:\n%s", p.out)
	}
	// One failed upload call (retried) makes the B2 error series exist;
	// a missing name the FUSE error series.
	e.ts.AddFault(b2emu.FaultRule{API: "b2_upload_file", Times: 1, Status: 503})
	if _, errOut, err := sh(`set -e
cd ` + p.dir + `
printf hello > a.txt
mkdir d
cp a.txt d/b.txt
cat a.txt d/b.txt seeded.bin >/dev/null
ls -lR >/dev/null
stat missing 2>/dev/null || true
`); err != nil {
		t.Fatalf("workload: %v: %s", err, errOut)
	}
	var have map[string]bool
	var missing []string
	deadline := time.Now().Add(10 * time.Second)
	for {
		have = map[string]bool{}
		for k := range scrape(t, m[1]) {
			name, _, _ := strings.Cut(k, "{")
			have[name] = true
		}
		missing = missing[:0]
		for n := range wanted {
			if !have[n] {
				missing = append(missing, n)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	sort.Strings(missing)
	for _, n := range missing {
		t.Errorf("%s (used by the %s) is not exposed by b2fs", n, strings.Join(wanted[n], ", "))
	}

	// The read cache counters: seeded.bin (put into B2 by another client)
	// was downloaded; a b2fs started on the same cache directory reads it
	// from the read cache (without passthrough: with it, the kernel reads
	// complete cached files itself and b2fs never sees the reads).
	if v := scrape(t, m[1]); v["b2fs_read_cache_miss_bytes_total"] < 300_000 {
		t.Errorf("read cache: %v miss bytes after downloading a 300,000-byte file", v["b2fs_read_cache_miss_bytes_total"])
	}
	p.signal(syscall.SIGTERM)
	p.wait(30 * time.Second)
	p2 := e.start(procOpts{CacheDir: cacheDir, Args: []string{"--metrics-addr", "127.0.0.1:0", "--passthrough=false"}})
	m2 := metricsAddrRE.FindStringSubmatch(p2.out.String())
	if m2 == nil {
		t.Fatalf("no metrics address in the log:\n%s", p2.out)
	}
	if _, errOut, err := sh("cat " + filepath.Join(p2.dir, "seeded.bin") + " >/dev/null"); err != nil {
		t.Fatalf("cat: %v: %s", err, errOut)
	}
	if v := scrape(t, m2[1]); v["b2fs_read_cache_hit_bytes_total"] < 300_000 || v["b2fs_read_cache_bytes"] < 300_000 || v["b2fs_read_cache_limit_bytes"] <= 0 {
		t.Errorf("read cache after a restart: %v hit bytes, %v bytes cached, limit %v; want the 300,000-byte file read from it",
			v["b2fs_read_cache_hit_bytes_total"], v["b2fs_read_cache_bytes"], v["b2fs_read_cache_limit_bytes"])
	}

	// docs/monitoring.md's table lists exactly the b2fs_ metrics exposed.
	doc, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "docs", "monitoring.md"))
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, l := range strings.Split(string(doc), "\n") {
		if strings.HasPrefix(l, "| `b2fs_") {
			cell, _, _ := strings.Cut(l[2:], " |")
			for _, n := range regexp.MustCompile(`b2fs_[a-z0-9_]+`).FindAllString(cell, -1) {
				documented[n] = true
			}
		}
	}
	exposed := map[string]bool{}
	for n := range have {
		if strings.HasPrefix(n, "b2fs_") {
			for _, suf := range []string{"_bucket", "_sum", "_count"} {
				if b, ok := strings.CutSuffix(n, suf); ok && have[b+"_bucket"] {
					n = b
				}
			}
			exposed[n] = true
		}
	}
	for n := range exposed {
		if !documented[n] {
			t.Errorf("%s is exposed but not in docs/monitoring.md's metrics table", n)
		}
	}
	for n := range documented {
		if !exposed[n] {
			t.Errorf("docs/monitoring.md lists %s, which b2fs does not expose", n)
		}
	}
}
