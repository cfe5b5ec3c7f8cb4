package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/b2fs/b2fs/b2client"
)

// The write-back suite (--suite writeback) measures what write-back is
// for: how soon tools get their answer and how soon B2 has everything,
// and what git and rsync cost in B2 calls, for b2fs in both modes next to
// rclone mount --vfs-cache-mode writes (with rclone's default write-back
// delay). Every workload of every tool runs --wb-runs times on a fresh
// mount; the table gives medians.
const (
	wbCp     = "cp"      // cp -r of --small-files files
	wbRsync  = "rsync"   // rsync -a of the same tree
	wbGit1   = "git-1"   // one-file git commit
	wbGit100 = "git-100" // git add of 100 files, then commit

	wbBegin = "<!-- bench-writeback:begin -->"
	wbEnd   = "<!-- bench-writeback:end -->"

	// Targets of the write-back mode.
	wbTargetReturn  = 1.2 // cp returns within 1.2 × rclone's return time
	wbTargetDurable = 0.5 // all in B2 within 0.5 × rclone's time
	wbTargetGitOne  = 15  // B2 calls of a one-file commit
)

var wbWorkloads = []string{wbCp, wbRsync, wbGit1, wbGit100}

// wbSample is one measurement of one workload by one tool.
type wbSample struct {
	ret     float64 // seconds until the tool returned
	durable float64 // seconds until B2 had everything (0: not measured)
	apis    map[string]int64
	rss     int64
}

// wbReport holds every sample by workload and tool.
type wbReport struct {
	cfg     *config
	prof    profile
	started time.Time
	samples map[string]map[string][]wbSample
	errs    map[string]map[string]string
	syncCmd bool // b2fs sync was used to wait for write-back
}

func (rp *wbReport) add(w, tool string, s wbSample) {
	if rp.samples[w] == nil {
		rp.samples[w] = map[string][]wbSample{}
	}
	rp.samples[w][tool] = append(rp.samples[w][tool], s)
}

func (rp *wbReport) fail(w, tool string, err error) {
	if rp.errs[w] == nil {
		rp.errs[w] = map[string]string{}
	}
	rp.errs[w][tool] = oneLine(err.Error())
}

// runWriteBack runs the write-back suite on the first profile asked for.
func runWriteBack(ctx context.Context, cfg *config, logw io.Writer) (*wbReport, error) {
	start := time.Now()
	logf := func(format string, args ...any) {
		fmt.Fprintf(logw, "[bench-wb %6.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}
	rp := &wbReport{cfg: cfg, prof: cfg.profiles[0], started: start,
		samples: map[string]map[string][]wbSample{}, errs: map[string]map[string]string{}}
	cleanup, err := prepareRun(cfg, "b2fs-bench-wb-")
	if err != nil {
		return nil, err
	}
	defer cleanup()
	src := filepath.Join(cfg.workDir, "src", "small")
	os.RemoveAll(src)
	if err := makeSmallTree(src, cfg.smallFiles); err != nil {
		return nil, err
	}
	var kb [18]byte
	rand.Read(kb[:])
	keyID, key, bucket := "benchkey", "K"+hex.EncodeToString(kb[:]), "b2fs-bench"
	emu, err := startEmulator(ctx, cfg.emuBin, filepath.Join(cfg.workDir, "emu-data-wb"), filepath.Join(cfg.workDir, "logs-b2emu-wb.log"), rp.prof, keyID, key, bucket, emuStartWait(0))
	if err != nil {
		return nil, err
	}
	defer emu.stop()
	ms := &mounts{}
	defer ms.cleanup()
	r := &runner{cfg: cfg, prof: rp.prof, emu: emu, smallSrc: src, ms: ms, logf: logf, probeCnt: &callCounter{}}
	r.probe, err = b2client.New(ctx, b2client.Config{Endpoint: emu.url, KeyID: keyID, Key: key,
		Observer: func(ev b2client.RequestEvent) { r.probeCnt.add(ev.API) }, HTTPClient: &http.Client{Transport: b2client.NewTransport()}})
	if err != nil {
		return nil, err
	}
	b, err := r.probe.BucketByName(ctx, bucket)
	if err != nil || b == nil {
		return nil, fmt.Errorf("bucket %s: %v", bucket, err)
	}
	r.bucketID = b.ID
	r.env = &mountEnv{b2fsBin: cfg.b2fsBin, url: emu.url, keyID: keyID, key: key, bucket: bucket,
		workDir: cfg.workDir, b2fsArgs: cfg.b2fsArgs, rcArgs: cfg.rcloneArgs, b2fsCacheDir: true, rcloneRC: true}
	rp.syncCmd = b2fsHasSync(cfg.b2fsBin)
	deadline := start.Add(cfg.deadline)
	logf("profile %s, tools %v, %d runs, b2fs sync: %v", rp.prof.describe(), cfg.tools, cfg.wbRuns, rp.syncCmd)
	for run := 1; run <= cfg.wbRuns; run++ {
		for _, tool := range cfg.tools {
			for _, step := range []struct {
				names []string
				fn    func(context.Context, *mount, string) ([]wbSample, error)
			}{{[]string{wbCp}, r.wbCopy}, {[]string{wbRsync}, r.wbRsync}, {[]string{wbGit1, wbGit100}, r.wbGit}} {
				if !cfg.workloads[step.names[0]] {
					continue
				}
				if time.Now().After(deadline) || ctx.Err() != nil {
					return rp, ctx.Err()
				}
				sctx, cancel := context.WithTimeout(ctx, cfg.stepTimout)
				prefix := fmt.Sprintf("wb-%s-%s-%d", step.names[0], tool, run)
				res, err := r.wbRun(sctx, tool, prefix, step.fn)
				cancel()
				for i, w := range step.names {
					if i < len(res) {
						rp.add(w, tool, res[i])
						logf("run %d %-8s %-8s returned %.2fs, in B2 %.2fs, rss %d MiB, calls %s", run, w, tool, res[i].ret, res[i].durable, res[i].rss>>20, apiSummary(res[i].apis))
					} else if err != nil {
						rp.fail(w, tool, err)
						logf("run %d %-8s %-8s failed: %v", run, w, tool, err)
					}
				}
			}
		}
	}
	return rp, nil
}

// b2fsHasSync tells whether b2fs has the sync command.
func b2fsHasSync(bin string) bool {
	out, _ := exec.Command(bin, "sync", "--help").CombinedOutput()
	return strings.Contains(string(out), "usage: b2fs sync")
}

// wbRun mounts with tool, runs fn and adds the peak RSS and the calls of
// the last sample through the unmount.
func (r *runner) wbRun(ctx context.Context, tool, prefix string, fn func(context.Context, *mount, string) ([]wbSample, error)) ([]wbSample, error) {
	m, err := r.ms.startMount(ctx, r.env, tool)
	if err != nil {
		return nil, err
	}
	res, err := fn(ctx, m, prefix)
	rss, _ := m.peakRSS()
	r.ms.stop(m)
	if err != nil {
		return nil, fmt.Errorf("%w (%s log: %s)", err, tool, tail(m.logPath))
	}
	cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, api, err := r.readCounters(cctx)
	if err != nil {
		return nil, err
	}
	last := &res[len(res)-1]
	for k, v := range api {
		last.apis[k] += v // calls made by the unmount
	}
	for i := range res {
		res[i].rss = rss
	}
	return res, nil
}

// quiesce waits until B2 has everything the mount holds, the way a user of
// each tool would: b2fs sync for b2fs with write-back (when it has the
// command), else until b2emu's counters stop moving for a while (rclone
// uploads after its write-back delay, and b2fs sends deferred metadata
// after --metadata-delay). It returns the calls made since the counting
// window started.
func (r *runner) quiesce(ctx context.Context, m *mount, after time.Time) (map[string]int64, error) {
	quiet := 2 * time.Second
	if m.tool == toolB2fsWriteBack && b2fsHasSync(r.cfg.b2fsBin) {
		if _, err := runCmd(ctx, m, r.cfg.b2fsBin, "sync", m.dir); err != nil {
			return nil, err
		}
	}
	if m.tool == toolRcloneWrites {
		after = after.Add(5 * time.Second) // rclone's --vfs-write-back default
	}
	var last map[string]int64
	since := time.Now()
	for {
		_, api, err := r.emu.stats(ctx)
		if err != nil {
			return nil, err
		}
		if !reflect.DeepEqual(api, last) {
			last, since = api, time.Now()
		} else if time.Since(since) >= quiet && time.Now().After(after) && rcloneIdle(ctx, m) {
			return subtract(api, r.probeCnt.take()), nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// rcloneIdle asks rclone-w's remote control whether uploads are queued
// or running (vfs/stats); other tools are always idle here.
func rcloneIdle(ctx context.Context, m *mount) bool {
	if m.rcURL == "" {
		return true
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.rcURL+"vfs/stats", strings.NewReader("{}"))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var st struct {
		DiskCache struct {
			UploadsInProgress int `json:"uploadsInProgress"`
			UploadsQueued     int `json:"uploadsQueued"`
		} `json:"diskCache"`
	}
	if resp.StatusCode != 200 || json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&st) != nil {
		return false
	}
	return st.DiskCache.UploadsInProgress == 0 && st.DiskCache.UploadsQueued == 0
}

// allInB2 returns when B2 lists want files under prefix: b2fs sync first
// for b2fs with write-back, then the listing is polled.
func (r *runner) allInB2(ctx context.Context, m *mount, prefix string, want int) error {
	if m.tool == toolB2fsWriteBack && b2fsHasSync(r.cfg.b2fsBin) {
		if _, err := runCmd(ctx, m, r.cfg.b2fsBin, "sync", m.dir); err != nil {
			return err
		}
	}
	return r.waitDurable(ctx, prefix+"/", want, -1)
}

func (r *runner) wbCopy(ctx context.Context, m *mount, prefix string) ([]wbSample, error) {
	return r.wbTree(ctx, m, prefix, "cp", "-r", r.smallSrc, filepath.Join(m.dir, prefix, "t"))
}

func (r *runner) wbRsync(ctx context.Context, m *mount, prefix string) ([]wbSample, error) {
	return r.wbTree(ctx, m, prefix, "rsync", "-a", r.smallSrc+"/", filepath.Join(m.dir, prefix, "t")+"/")
}

// wbTree times a tool copying the small tree into prefix/t: until it
// returns and until B2 has every file.
func (r *runner) wbTree(ctx context.Context, m *mount, prefix, name string, args ...string) ([]wbSample, error) {
	if err := guard(ctx, m, func() error { return os.MkdirAll(filepath.Join(m.dir, prefix), 0o755) }); err != nil {
		return nil, err
	}
	if err := r.prepare(ctx, m, prefix); err != nil {
		return nil, err
	}
	t0 := time.Now()
	if _, err := runCmd(ctx, m, name, args...); err != nil {
		return nil, err
	}
	ret := time.Since(t0).Seconds()
	if err := r.allInB2(ctx, m, prefix+"/t", r.cfg.smallFiles); err != nil {
		return nil, err
	}
	durable := time.Since(t0).Seconds()
	api, err := r.quiesce(ctx, m, t0)
	if err != nil {
		return nil, err
	}
	// The unmount's calls count too (wbRun).
	return []wbSample{{ret: ret, durable: durable, apis: api}}, r.resetCounters(ctx)
}

// wbGit makes a repository in the mount with a first commit of 20 files,
// then measures a one-file commit, and git add of 100 new files followed
// by a commit (the 100 files are written before the counting starts).
func (r *runner) wbGit(ctx context.Context, m *mount, prefix string) ([]wbSample, error) {
	repo := filepath.Join(m.dir, prefix, "repo")
	git := func(script string) error {
		cmd := exec.CommandContext(ctx, "sh", "-c", script)
		cmd.Dir = repo
		home := filepath.Join(r.cfg.workDir, "git-home")
		os.MkdirAll(home, 0o700)
		cmd.Env = append(os.Environ(), "HOME="+home, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
			"GIT_AUTHOR_NAME=bench", "GIT_AUTHOR_EMAIL=bench@example.com", "GIT_COMMITTER_NAME=bench", "GIT_COMMITTER_EMAIL=bench@example.com")
		cmd.WaitDelay = 5 * time.Second
		return guard(ctx, m, func() error {
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("%s: %w: %s", script, err, oneLine(string(out)))
			}
			return nil
		})
	}
	if err := guard(ctx, m, func() error { return os.MkdirAll(repo, 0o755) }); err != nil {
		return nil, err
	}
	if err := git(`git init -q -b main . && for i in $(seq 1 20); do echo "file $i" > f$i.txt; done && git add -A && git commit -q -m first`); err != nil {
		return nil, err
	}
	var out []wbSample
	for _, step := range []struct{ before, measured string }{
		{"", `echo change >> f1.txt && git commit -q -am "one file"`},
		{`mkdir -p many && for i in $(seq 1 100); do echo "new $i" > many/n$i.txt; done`, `git add -A && git commit -q -m "100 files"`},
	} {
		if step.before != "" {
			if err := git(step.before); err != nil {
				return nil, err
			}
		}
		if _, err := r.quiesce(ctx, m, time.Now()); err != nil {
			return nil, err
		}
		if err := r.resetCounters(ctx); err != nil {
			return nil, err
		}
		t0 := time.Now()
		if err := git(step.measured); err != nil {
			return nil, err
		}
		ret := time.Since(t0).Seconds()
		api, err := r.quiesce(ctx, m, t0)
		if err != nil {
			return nil, err
		}
		out = append(out, wbSample{ret: ret, apis: api})
	}
	// The unmount's calls count with the last sample (wbRun).
	return out, r.resetCounters(ctx)
}

// ---- report ----

// wbStat is the median of one quantity over a cell's samples.
func (rp *wbReport) stat(w, tool string, f func(wbSample) float64) (float64, bool) {
	ss := rp.samples[w][tool]
	if len(ss) == 0 {
		return 0, false
	}
	var v []float64
	for _, s := range ss {
		v = append(v, f(s))
	}
	return median(v), true
}

func total(api map[string]int64) (n int64) {
	for _, v := range api {
		n += v
	}
	return n
}

// medianAPIs is the median count of every API over the samples.
func medianAPIs(ss []wbSample) map[string]float64 {
	names := map[string]bool{}
	for _, s := range ss {
		for k := range s.apis {
			names[k] = true
		}
	}
	out := map[string]float64{}
	for k := range names {
		var v []float64
		for _, s := range ss {
			v = append(v, float64(s.apis[k]))
		}
		out[k] = median(v)
	}
	return out
}

func (rp *wbReport) cell(w, tool string, f func(wbSample) float64, format string) string {
	if e := rp.errs[w][tool]; e != "" && len(rp.samples[w][tool]) == 0 {
		return "error"
	}
	v, ok := rp.stat(w, tool, f)
	if !ok {
		return "-"
	}
	return fmt.Sprintf(format, v)
}

// markdown renders the suite's tables, the targets and the calls by API.
func (rp *wbReport) markdown() string {
	var b strings.Builder
	tools := rp.cfg.tools
	head := func(cols ...string) {
		b.WriteString("| " + strings.Join(cols, " | ") + " |\n|" + strings.Repeat("---|", len(cols)) + "\n")
	}
	ret := func(s wbSample) float64 { return s.ret }
	dur := func(s wbSample) float64 { return s.durable }
	calls := func(s wbSample) float64 { return float64(total(s.apis)) }
	rss := func(s wbSample) float64 { return float64(s.rss) / (1 << 20) }
	var cols []string
	for _, t := range tools {
		cols = append(cols, toolTitle[t])
	}
	b.WriteString("Time until the tool returned / until B2 had every file (s, median):\n\n")
	head(append([]string{"workload"}, cols...)...)
	for _, w := range wbWorkloads {
		row := []string{w}
		for _, t := range tools {
			c := rp.cell(w, t, ret, "%.2f")
			if w == wbCp || w == wbRsync {
				c += " / " + rp.cell(w, t, dur, "%.2f")
			}
			row = append(row, c)
		}
		b.WriteString("| " + strings.Join(row, " | ") + " |\n")
	}
	b.WriteString("\nB2 calls (median total; A/B/C by class) and b2fs's peak RSS (MiB, median):\n\n")
	hc := []string{"workload"}
	for _, c := range cols {
		hc = append(hc, c+" calls")
	}
	for _, t := range tools {
		if strings.HasPrefix(t, toolB2fs) {
			hc = append(hc, toolTitle[t]+" RSS")
		}
	}
	head(hc...)
	for _, w := range wbWorkloads {
		row := []string{w}
		for _, t := range tools {
			c := rp.cell(w, t, calls, "%.0f")
			if ss := rp.samples[w][t]; len(ss) > 0 {
				m := medianAPIs(ss)
				api := map[string]int64{}
				for k, v := range m {
					api[k] = int64(v + 0.5)
				}
				c += " (" + classify(api).String() + ")"
			}
			row = append(row, c)
		}
		for _, t := range tools {
			if strings.HasPrefix(t, toolB2fs) {
				row = append(row, rp.cell(w, t, rss, "%.0f"))
			}
		}
		b.WriteString("| " + strings.Join(row, " | ") + " |\n")
	}
	b.WriteString("\n" + rp.targets())
	b.WriteString("\n<details><summary>Calls by API (median of the runs)</summary>\n\n")
	for _, w := range wbWorkloads {
		for _, t := range tools {
			if ss := rp.samples[w][t]; len(ss) > 0 {
				m := medianAPIs(ss)
				var parts []string
				for k, v := range m {
					if v > 0 {
						parts = append(parts, fmt.Sprintf("%s×%g", strings.TrimPrefix(k, "b2_"), v))
					}
				}
				sort.Strings(parts)
				fmt.Fprintf(&b, "- %s %s: %s\n", w, t, strings.Join(parts, " "))
			}
			if e := rp.errs[w][t]; e != "" {
				fmt.Fprintf(&b, "- %s %s: error: %s\n", w, t, e)
			}
		}
	}
	b.WriteString("\n</details>\n")
	return b.String()
}

// targets evaluates b2fs with write-back against its targets.
func (rp *wbReport) targets() string {
	wb, rc := toolB2fsWriteBack, toolRcloneWrites
	var lines []string
	verdict := func(ok bool) string {
		if ok {
			return "PASS"
		}
		return "MISS"
	}
	ret := func(s wbSample) float64 { return s.ret }
	dur := func(s wbSample) float64 { return s.durable }
	if a, ok1 := rp.stat(wbCp, wb, ret); ok1 {
		if c, ok2 := rp.stat(wbCp, rc, ret); ok2 && c > 0 {
			lines = append(lines, fmt.Sprintf("cp returns in %.2f × rclone's time (target ≤ %.1f): %s", a/c, wbTargetReturn, verdict(a/c <= wbTargetReturn)))
		}
	}
	if a, ok1 := rp.stat(wbCp, wb, dur); ok1 {
		if c, ok2 := rp.stat(wbCp, rc, dur); ok2 && c > 0 {
			lines = append(lines, fmt.Sprintf("all in B2 in %.2f × rclone's time (target ≤ %.1f): %s", a/c, wbTargetDurable, verdict(a/c <= wbTargetDurable)))
		}
	}
	if ss := rp.samples[wbGit1][wb]; len(ss) > 0 {
		n, _ := rp.stat(wbGit1, wb, func(s wbSample) float64 { return float64(total(s.apis)) })
		lines = append(lines, fmt.Sprintf("one-file git commit: %.0f B2 calls (target ≤ %d): %s", n, wbTargetGitOne, verdict(n <= wbTargetGitOne)))
	}
	if ss := rp.samples[wbRsync][wb]; len(ss) > 0 {
		m := medianAPIs(ss)
		other := m["b2_copy_file"] + m["b2_hide_file"] + m["b2_delete_file_version"]
		// Directory markers may add one upload per directory.
		dirs := float64(min(10, max(1, rp.cfg.smallFiles/100)) + 2)
		up := m["b2_upload_file"]
		ok := up >= float64(rp.cfg.smallFiles) && up <= float64(rp.cfg.smallFiles)+dirs && other == 0
		lines = append(lines, fmt.Sprintf("rsync -a of %d files: %g uploads, %g copies, hides and deletes (target %d uploads, up to %g more for directory markers, and 0): %s",
			rp.cfg.smallFiles, up, other, rp.cfg.smallFiles, dirs, verdict(ok)))
	}
	worst := 0.0
	for _, w := range wbWorkloads {
		for _, t := range []string{toolB2fs, wb} {
			for _, s := range rp.samples[w][t] {
				worst = max(worst, float64(s.rss)/(1<<20))
			}
		}
	}
	if worst > 0 {
		lines = append(lines, fmt.Sprintf("peak RSS of b2fs at most %.0f MiB (target < %d): %s", worst, targetRSSBytes>>20, verdict(worst < targetRSSBytes>>20)))
	}
	if len(lines) == 0 {
		return "Targets: not evaluated (b2fs with write-back or rclone not measured).\n"
	}
	return "Targets of b2fs with write-back:\n\n- " + strings.Join(lines, "\n- ") + "\n"
}

// document is what goes between the write-back markers.
func (rp *wbReport) document() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Run on %s UTC, %.1f minutes.\n\n", rp.started.UTC().Format("2006-01-02 15:04"), time.Since(rp.started).Minutes())
	fmt.Fprintf(&b, "- Machine: %s\n", machine())
	fmt.Fprintf(&b, "- Command: `%s`\n", rp.cfg.command)
	fmt.Fprintf(&b, "- Profile: %s; %d runs per tool and workload, each on a fresh mount; %d small files (1 to 8 KiB)\n", rp.prof.describe(), rp.cfg.wbRuns, rp.cfg.smallFiles)
	wait := "polling b2emu's listing"
	if rp.syncCmd {
		wait = "`b2fs sync` for b2fs with write-back, polling b2emu's listing for the others"
	}
	fmt.Fprintf(&b, "- All in B2: %s. Calls: b2emu's counters from just before the measured command until the tool was unmounted, after B2 had everything\n", wait)
	fmt.Fprintf(&b, "- Tools: %s\n\n", toolVersions(rp.cfg))
	b.WriteString(rp.markdown())
	return b.String()
}

// writeBackMain runs the write-back suite, prints its tables and writes
// them between the write-back markers of cfg.out.
func writeBackMain(ctx context.Context, cfg *config, stdout, stderr io.Writer) int {
	rep, err := runWriteBack(ctx, cfg, stderr)
	if rep != nil {
		fmt.Fprintln(stdout, rep.markdown())
		if cfg.out != "" {
			if werr := writeDocBetween(cfg.out, wbBegin, wbEnd, rep.document()); werr != nil {
				fmt.Fprintf(stderr, "bench: %v\n", werr)
				return 1
			}
			fmt.Fprintf(stderr, "bench: results written to %s\n", cfg.out)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 1
	}
	return 0
}
