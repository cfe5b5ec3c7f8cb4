package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// Targets b2fs is held to.
const (
	targetReadOfLimit  = 0.8
	targetReadVsRclone = 2.0 // wan profile only
	targetWriteOfLimit = 0.7
	targetRandVsRclone = 1.0
	targetBigVsRclone  = 2.0 // big directory listings
	targetRSSBytes     = 150 << 20
	// A walk over a million names (find-huge) holds what the default
	// caps allow, not what it saw: --max-file-inodes and
	// --cache-max-entries (200,000 each), the inode tables at the size
	// the cap let them reach, and the memory target's headroom (measured:
	// 338 MiB after 500,000 names, 356 MiB after 1,000,000).
	targetHugeRSSBytes  = 400 << 20
	entriesPerListCall  = 10000
	beginMarker         = "<!-- bench:begin -->"
	endMarker           = "<!-- bench:end -->"
	limitKey            = "limit"
	mibDiv              = 1 << 20
	ratioNotApplicable  = "-"
	resultSkippedPrefix = "skipped"
)

// row is one workload on one profile.
type row struct {
	profile  string
	workload string
	res      map[string]*result // by tool, and limitKey
}

// report is everything a run measured.
type report struct {
	cfg      *config
	started  time.Time
	finished time.Time
	profiles []profile
	rows     []*row
}

func newReport(cfg *config, start time.Time) *report {
	return &report{cfg: cfg, started: start}
}

// row returns the row of (profile, workload), creating it.
func (rp *report) row(profile, workload string) *row {
	for _, r := range rp.rows {
		if r.profile == profile && r.workload == workload {
			return r
		}
	}
	r := &row{profile: profile, workload: workload, res: map[string]*result{}}
	rp.rows = append(rp.rows, r)
	return r
}

func (rp *report) find(profile, workload string) *row {
	for _, r := range rp.rows {
		if r.profile == profile && r.workload == workload {
			return r
		}
	}
	return nil
}

func (res *result) ok() bool { return res != nil && res.err == "" }

// summary is the one-line log form of a result.
func (res *result) summary(workload string) string {
	if res == nil {
		return "-"
	}
	if !res.ok() {
		return "ERROR " + res.err
	}
	s := fmt.Sprintf("%s %s in %.2fs", formatValue(res.value, workload), unitOf[workload].unit, res.secs)
	if res.callsSet {
		s += " calls A/B/C " + res.calls.String()
		if len(res.apis) > 0 {
			s += " [" + apiSummary(res.apis) + "]"
		}
	}
	if res.rss > 0 {
		s += fmt.Sprintf(" peak RSS %.0f MiB", float64(res.rss)/mibDiv)
	}
	if res.note != "" {
		s += " (" + res.note + ")"
	}
	if res.cpu != "" {
		s += " " + res.cpu
	}
	return s
}

func formatValue(v float64, workload string) string {
	switch unitOf[workload].unit {
	case "MiB/s":
		return fmt.Sprintf("%.1f", v)
	case "reads/s":
		if v >= 100 {
			return fmt.Sprintf("%.0f", v)
		}
		return fmt.Sprintf("%.1f", v)
	}
	if v < 0.1 {
		return fmt.Sprintf("%.3f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

// speedRatio is how many times faster a is than b (> 1: a is faster).
func speedRatio(workload string, a, b *result) (float64, bool) {
	if !a.ok() || !b.ok() || a.value <= 0 || b.value <= 0 {
		return 0, false
	}
	if unitOf[workload].higher {
		return a.value / b.value, true
	}
	return b.value / a.value, true
}

// bestRclone is the faster of the rclone configurations that succeeded.
func (r *row) bestRclone() *result {
	var best *result
	for _, t := range []string{toolRclone, toolRcloneWrites} {
		res := r.res[t]
		if !res.ok() {
			continue
		}
		if best == nil {
			best = res
			continue
		}
		if x, ok := speedRatio(r.workload, res, best); ok && x > 1 {
			best = res
		}
	}
	return best
}

func ceilDiv(a, b int) int64 { return int64((a + b - 1) / b) }

// target describes b2fs's target on a row and evaluates it.
func (rp *report) target(r *row) (desc, verdict string) {
	var goals []string
	var misses []string
	b := r.res[toolB2fs]
	wan := false
	for _, p := range rp.profiles {
		if p.Name == r.profile {
			wan = p.wan()
		}
	}
	limit := r.res[limitKey]
	check := func(goal string, ok bool, miss string) {
		goals = append(goals, goal)
		if !ok {
			misses = append(misses, miss)
		}
	}
	var unchecked []string
	ratioGoal := func(goal string, other *result, want float64, what string) {
		x, ok := speedRatio(r.workload, b, other)
		if !ok {
			goals = append(goals, goal)
			if b.ok() {
				unchecked = append(unchecked, "no "+what+" result")
			}
			return
		}
		check(goal, x >= want, fmt.Sprintf("%.2f×%s", x, what))
	}
	// fasterGoal: strictly faster than other.
	fasterGoal := func(other *result, what string) {
		goal := ">" + what
		x, ok := speedRatio(r.workload, b, other)
		if !ok {
			goals = append(goals, goal)
			if b.ok() {
				unchecked = append(unchecked, "no "+what+" result")
			}
			return
		}
		check(goal, x > 1, fmt.Sprintf("%.2f×%s", x, what))
	}
	callGoal := func(goal string, ok func(c calls) bool) {
		if b.ok() && b.callsSet {
			check(goal, ok(b.calls), fmt.Sprintf("C=%d B=%d", b.calls.C, b.calls.B))
		} else {
			goals = append(goals, goal)
		}
	}
	switch r.workload {
	case wSeqRead:
		ratioGoal(fmt.Sprintf("≥%.1f×limit", targetReadOfLimit), limit, targetReadOfLimit, "limit")
		if wan {
			ratioGoal(fmt.Sprintf("≥%.0f×rclone", targetReadVsRclone), r.bestRclone(), targetReadVsRclone, "rclone")
		}
	case wReread:
		ratioGoal(fmt.Sprintf("≥%.1f×local disk", targetRereadOfDisk), limit, targetRereadOfDisk, "local disk")
		if b.ok() && b.callsSet {
			check("B=0", b.calls.B == 0, fmt.Sprintf("B=%d", b.calls.B))
		} else {
			goals = append(goals, "B=0")
		}
	case wSeqWrite:
		ratioGoal(fmt.Sprintf("≥%.1f×limit", targetWriteOfLimit), limit, targetWriteOfLimit, "limit")
		fasterGoal(r.bestRclone(), "rclone")
	case wRandRead:
		ratioGoal("≥rclone", r.bestRclone(), targetRandVsRclone, "rclone")
	case wLsCold, wLsWarm, wFind:
		n := rp.cfg.listFiles
		if r.workload == wFind {
			n = rp.cfg.treeFiles
		}
		want := ceilDiv(n, entriesPerListCall)
		if r.workload == wLsWarm {
			callGoal(fmt.Sprintf("C≤%d, B=0", want), func(c calls) bool { return c.C <= want && c.B == 0 })
			// What a user feels is the time: a warm listing must beat
			// rclone's warm listing, a cold one (and find) match it.
			fasterGoal(r.bestRclone(), "rclone")
		} else {
			callGoal(fmt.Sprintf("C=%d, B=0", want), func(c calls) bool { return c.C == want && c.B == 0 })
			ratioGoal("≥rclone", r.bestRclone(), 1, "rclone")
		}
	case wBigCold, wBigWarm:
		if r.workload == wBigCold {
			want := ceilDiv(rp.cfg.bigDirFiles, entriesPerListCall)
			callGoal(fmt.Sprintf("C=%d, B=0", want), func(c calls) bool { return c.C == want && c.B == 0 })
		}
		ratioGoal(fmt.Sprintf("≥%.0f×rclone", targetBigVsRclone), r.bestRclone(), targetBigVsRclone, "rclone")
		if r.workload == wBigWarm {
			// A warm listing is at least as fast as the cold one.
			if cold := rp.find(r.profile, wBigCold); cold != nil {
				ratioGoal("≤cold", cold.res[toolB2fs], 1, "cold")
			}
		}
	}
	rssTarget := int64(targetRSSBytes)
	if r.workload == wHuge {
		rssTarget = targetHugeRSSBytes
	}
	rssGoal := fmt.Sprintf("RSS<%dMiB", rssTarget>>20)
	if b.ok() {
		check(rssGoal, b.rss > 0 && b.rss < rssTarget, fmt.Sprintf("RSS %.0f MiB", float64(b.rss)/mibDiv))
	} else {
		goals = append(goals, rssGoal)
	}
	desc = strings.Join(goals, ", ")
	switch {
	case b == nil:
		return desc, "not run"
	case !b.ok():
		if strings.HasPrefix(b.err, resultSkippedPrefix) {
			return desc, "not run"
		}
		return desc, "MISS: error"
	case len(misses) > 0:
		verdict = "MISS: " + strings.Join(misses, ", ")
	default:
		verdict = "PASS"
	}
	if len(unchecked) > 0 {
		verdict += " (unchecked: " + strings.Join(unchecked, ", ") + ")"
	}
	return desc, verdict
}

// markdown renders the results table and its footnotes.
func (rp *report) markdown() string {
	var b strings.Builder
	tools := rp.cfg.tools
	hdr := []string{"profile", "workload", "unit"}
	for _, t := range tools {
		hdr = append(hdr, toolTitle[t])
	}
	hdr = append(hdr, "limit")
	hasRclone := false
	for _, t := range tools {
		hasRclone = hasRclone || t == toolRclone || t == toolRcloneWrites
	}
	if hasRclone {
		hdr = append(hdr, "b2fs/rclone")
	}
	hdr = append(hdr, "b2fs/limit")
	for _, t := range tools {
		hdr = append(hdr, "A/B/C "+t)
	}
	hdr = append(hdr, "A/B/C limit", "b2fs peak RSS MiB", "b2fs target", "result")
	b.WriteString("| " + strings.Join(hdr, " | ") + " |\n|")
	for range hdr {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	var notes []string
	noteRef := func(text string) string {
		for i, n := range notes {
			if n == text {
				return fmt.Sprintf(" [%d]", i+1)
			}
		}
		notes = append(notes, text)
		return fmt.Sprintf(" [%d]", len(notes))
	}
	cell := func(r *row, who string) string {
		res := r.res[who]
		switch {
		case res == nil:
			return ratioNotApplicable
		case !res.ok():
			if strings.HasPrefix(res.err, resultSkippedPrefix) {
				return "skipped" + noteRef(res.err)
			}
			return "error" + noteRef(fmt.Sprintf("%s, %s, %s: %s", r.profile, r.workload, who, res.err))
		}
		s := formatValue(res.value, r.workload)
		if res.note != "" && who != limitKey {
			s += noteRef(fmt.Sprintf("%s, %s, %s: %s", r.profile, r.workload, who, res.note))
		}
		return s
	}
	callsCell := func(r *row, who string) string {
		res := r.res[who]
		if !res.ok() || !res.callsSet {
			return ratioNotApplicable
		}
		return res.calls.String()
	}
	ratio := func(r *row, other *result) string {
		x, ok := speedRatio(r.workload, r.res[toolB2fs], other)
		if !ok {
			return ratioNotApplicable
		}
		return fmt.Sprintf("%.2f×", x)
	}
	for _, r := range rp.rows {
		cells := []string{r.profile, r.workload, unitOf[r.workload].unit}
		for _, t := range tools {
			cells = append(cells, cell(r, t))
		}
		cells = append(cells, cell(r, limitKey))
		if hasRclone {
			cells = append(cells, ratio(r, r.bestRclone()))
		}
		cells = append(cells, ratio(r, r.res[limitKey]))
		for _, t := range tools {
			cells = append(cells, callsCell(r, t))
		}
		cells = append(cells, callsCell(r, limitKey))
		rss := ratioNotApplicable
		if res := r.res[toolB2fs]; res.ok() && res.rss > 0 {
			rss = fmt.Sprintf("%.0f", float64(res.rss)/mibDiv)
		}
		desc, verdict := rp.target(r)
		if _, ok := r.res[toolB2fs]; !ok {
			desc, verdict = ratioNotApplicable, "not run"
		}
		cells = append(cells, rss, desc, verdict)
		b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
	}
	if len(notes) > 0 {
		b.WriteString("\n")
		for i, n := range notes {
			fmt.Fprintf(&b, "[%d] %s  \n", i+1, strings.ReplaceAll(n, "|", "\\|"))
		}
	}
	if rss := rp.otherRSS(); rss != "" {
		b.WriteString("\nPeak RSS of the other tools (MiB): " + rss + "\n")
	}
	return b.String()
}

// apiDetails lists every measurement's calls by API name.
func (rp *report) apiDetails() string {
	var b strings.Builder
	for _, r := range rp.rows {
		for _, who := range append(append([]string(nil), rp.cfg.tools...), limitKey) {
			if res := r.res[who]; res.ok() && res.callsSet {
				s := apiSummary(res.apis)
				if s == "" {
					s = "none"
				}
				fmt.Fprintf(&b, "- %s %s %s: %s\n", r.profile, r.workload, who, s)
			}
		}
	}
	return b.String()
}

// otherRSS summarises the rclone processes' peak RSS per workload.
func (rp *report) otherRSS() string {
	var parts []string
	for _, r := range rp.rows {
		var ts []string
		for _, t := range rp.cfg.tools {
			if t == toolB2fs {
				continue
			}
			if res := r.res[t]; res.ok() && res.rss > 0 {
				ts = append(ts, fmt.Sprintf("%s %.0f", t, float64(res.rss)/mibDiv))
			}
		}
		if len(ts) > 0 {
			parts = append(parts, fmt.Sprintf("%s/%s: %s", r.profile, r.workload, strings.Join(ts, ", ")))
		}
	}
	return strings.Join(parts, "; ")
}

// document is the Markdown written between the bench markers.
func (rp *report) document(table string) string {
	var b strings.Builder
	cfg := rp.cfg
	fmt.Fprintf(&b, "Run on %s UTC, %.1f minutes.\n\n", rp.started.UTC().Format("2006-01-02 15:04"), time.Since(rp.started).Minutes())
	fmt.Fprintf(&b, "- Machine: %s\n", machine())
	fmt.Fprintf(&b, "- Command: `%s`\n", cfg.command)
	fmt.Fprintf(&b, "- Sizes: big file %s, %d random 4 KiB reads (cap %v per tool), %d small files, ls of %d files, find over %d files in %d directories\n",
		sizeString(cfg.size), cfg.randReads, cfg.randCap, cfg.smallFiles, cfg.listFiles, cfg.treeFiles, cfg.treeDirs)
	var ps []string
	for _, p := range rp.profiles {
		ps = append(ps, p.describe())
	}
	fmt.Fprintf(&b, "- Profiles: %s\n", strings.Join(ps, "; "))
	fmt.Fprintf(&b, "- Tools: %s\n\n", toolVersions(cfg))
	b.WriteString(table)
	if d := rp.apiDetails(); d != "" {
		b.WriteString("\n<details><summary>Calls by API</summary>\n\n" + d + "\n</details>\n")
	}
	return b.String()
}

// writeDoc replaces the part of path between the bench markers with body,
// creating the file (with a title) when it does not exist.
func writeDoc(path, body string) error {
	return writeDocBetween(path, beginMarker, endMarker, body)
}

// writeDocBetween replaces the part of path between the markers begin and
// end with body, appending the block when the markers are not there.
func writeDocBetween(path, beginMarker, endMarker, body string) error {
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	block := beginMarker + "\n" + body + "\n" + endMarker
	var out string
	s := string(old)
	i, j := strings.Index(s, beginMarker), strings.Index(s, endMarker)
	switch {
	case i >= 0 && j > i:
		out = s[:i] + block + s[j+len(endMarker):]
	case len(s) > 0:
		out = strings.TrimRight(s, "\n") + "\n\n" + block + "\n"
	default:
		out = "# Benchmarks\n\n" + block + "\n"
	}
	return os.WriteFile(path, []byte(out), 0o644)
}

// machine describes the CPU, memory and kernel.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "MemTotal:"); ok {
				var kb int64
				fmt.Sscan(strings.TrimSpace(v), &kb)
				mem = fmt.Sprintf(", %.1f GiB memory", float64(kb)/(1<<20))
			}
		}
	}
	kernel := ""
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = ", Linux " + strings.TrimSpace(string(b))
	}
	load := ""
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			load = fmt.Sprintf(", load average at the end %s %s %s (the machine is shared)", f[0], f[1], f[2])
		}
	}
	return fmt.Sprintf("%d cores (%s)%s%s, %s%s", runtime.NumCPU(), model, mem, kernel, runtime.Version(), load)
}

func toolVersions(cfg *config) string {
	first := func(name string, args ...string) string {
		out, err := exec.Command(name, args...).Output()
		if err != nil {
			return name + " (version unknown)"
		}
		l, _, _ := bytes.Cut(out, []byte("\n"))
		return strings.TrimSpace(string(l))
	}
	b2fs := "b2fs from this tree"
	if out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output(); err == nil {
		b2fs = "b2fs at commit " + strings.TrimSpace(string(out))
		if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(bytes.TrimSpace(st)) > 0 {
			b2fs += " (with local changes)"
		}
	}
	parts := []string{b2fs}
	for _, t := range cfg.tools {
		if t == toolRclone || t == toolRcloneWrites {
			parts = append(parts, first("rclone", "version"))
			break
		}
	}
	parts = append(parts, first("fio", "--version"))
	return strings.Join(parts, ", ")
}
