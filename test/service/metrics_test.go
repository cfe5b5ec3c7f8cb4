package service

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/b2fs/b2fs/test/b2emu"
	"github.com/b2fs/b2fs/test/testenv"
)

var metricsAddrRE = regexp.MustCompile(`msg="serving metrics" addr=(http://127\.0\.0\.1:\d+/metrics)`)

// scrape fetches the metrics and returns every sample line's value.
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("metrics: %s", resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 4<<20))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad metrics line %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

// b2Calls extracts b2fs_b2_calls_total by API name.
func b2Calls(m map[string]float64) map[string]int64 {
	re := regexp.MustCompile(`^b2fs_b2_calls_total\{api="([^"]+)",class="([^"]+)"\}$`)
	out := map[string]int64{}
	for k, v := range m {
		if g := re.FindStringSubmatch(k); g != nil {
			out[g[1]] += int64(v)
		}
	}
	return out
}

// TestMetricsMatchEmulator: after a mixed workload the metrics endpoint
// reports, per B2 API, exactly the calls that b2emu counted, and the FUSE,
// cache, byte and cost metrics move.
func TestMetricsMatchEmulator(t *testing.T) {
	e := newEnv(t, b2emu.Options{})
	for i := 0; i < 5; i++ {
		if _, err := e.ts.PutFile(bucket, fmt.Sprintf("dir/f%d.txt", i), testenv.Pattern(uint64(i), 1000+i), nil); err != nil {
			t.Fatal(err)
		}
	}
	e.ts.ResetStats()
	p := e.start(procOpts{Args: []string{"--metrics-addr", "127.0.0.1:0"}})
	m := metricsAddrRE.FindStringSubmatch(p.out.String())
	if m == nil {
		t.Fatalf("no metrics address in the log:\n%s", p.out)
	}
	url := m[1]
	d := p.dir
	script := fmt.Sprintf(`set -e
cd %s
ls -la . dir >/dev/null
cat dir/f1.txt dir/f2.txt >/dev/null
cat dir/f1.txt >/dev/null
stat dir/missing 2>/dev/null || true
head -c 300000 /dev/urandom > big.bin
printf small > small.txt
mkdir newdir
mv small.txt newdir/small.txt
rm dir/f3.txt
ls -R >/dev/null
`, d)
	if _, errOut, err := sh(script); err != nil {
		t.Fatalf("workload: %v: %s", err, errOut)
	}
	var got map[string]int64
	var emu map[string]int64
	var metrics map[string]float64
	deadline := time.Now().Add(10 * time.Second)
	for {
		metrics = scrape(t, url)
		got = b2Calls(metrics)
		emu = e.ts.Stats().Calls
		if equalCounts(got, emu) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !equalCounts(got, emu) {
		t.Fatalf("metrics count B2 calls %v, b2emu counted %v", got, emu)
	}
	for _, api := range []string{"b2_authorize_account", "b2_list_file_names", "b2_upload_file", "b2_download_file_by_id"} {
		if got[api] == 0 {
			t.Errorf("workload made no %s call? metrics %v", api, got)
		}
	}
	t.Logf("B2 calls: %v", got)
	for _, k := range []string{
		`b2fs_fuse_ops_total{op="lookup"}`, `b2fs_fuse_ops_total{op="read"}`, `b2fs_fuse_ops_total{op="write"}`,
		`b2fs_fuse_ops_total{op="create"}`, `b2fs_fuse_ops_total{op="rename"}`,
		`b2fs_fuse_op_duration_seconds_count{op="lookup"}`,
		`b2fs_cache_hits_total`, `b2fs_cache_misses_total`,
		`b2fs_b2_bytes_total{direction="upload"}`, `b2fs_b2_bytes_total{direction="download"}`,
		`b2fs_b2_estimated_cost_dollars`,
	} {
		if metrics[k] <= 0 {
			t.Errorf("%s = %v, want > 0", k, metrics[k])
		}
	}
	if metrics[`b2fs_b2_bytes_total{direction="upload"}`] < 300000 {
		t.Errorf("upload bytes %v < the 300000 written", metrics[`b2fs_b2_bytes_total{direction="upload"}`])
	}
	if v, ok := metrics["b2fs_pending_uploads"]; !ok || v != 0 {
		t.Errorf("b2fs_pending_uploads = %v (present %v), want 0 after the workload", v, ok)
	}
	var classC int64
	for api, n := range got {
		switch api {
		case "b2_authorize_account", "b2_list_buckets", "b2_list_file_names", "b2_list_file_versions", "b2_copy_file", "b2_copy_part":
			classC += n
		}
	}
	st := e.ts.Stats()
	if classC != st.Classes["C"] {
		t.Errorf("class C calls %d, b2emu counted %d", classC, st.Classes["C"])
	}
	wantCost := float64(st.Classes["B"])*0.004/10000 + float64(st.Classes["C"])*0.004/1000
	if c := metrics["b2fs_b2_estimated_cost_dollars"]; c < wantCost*0.999 || c > wantCost*1.001 {
		t.Errorf("estimated cost %v, want %v", c, wantCost)
	}
}

func equalCounts(a, b map[string]int64) bool {
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	for k, v := range b {
		if a[k] != v {
			return false
		}
	}
	return true
}
