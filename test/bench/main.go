package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/b2fs/b2fs/b2client"
	"github.com/spf13/pflag"
)

func main() {
	os.Exit(cliMain(os.Args[1:], os.Stdout, os.Stderr))
}

// profile is a link model applied by b2emu to every request.
type profile struct {
	Name      string
	Latency   time.Duration
	Bandwidth int64 // bytes/s per request body, 0 = unlimited
}

func (p profile) wan() bool { return p.Latency > 0 || p.Bandwidth > 0 }

func (p profile) describe() string {
	if !p.wan() {
		return p.Name + " (no added latency or bandwidth cap)"
	}
	return fmt.Sprintf("%s (%v added before every response, %.0f MB/s per request and response body)",
		p.Name, p.Latency, float64(p.Bandwidth)/1e6)
}

// config is the whole run's configuration.
type config struct {
	b2fsBin, emuBin string
	workDir         string
	keep            bool
	out             string
	command         string

	size                 int64
	randReads            int
	randCap              time.Duration
	smallFiles           int
	listFiles            int
	bigDirFiles          int
	hugeFiles, hugeDirs  int
	treeFiles, treeDirs  int
	profiles             []profile
	tools                []string
	workloads            map[string]bool
	deadline, stepTimout time.Duration

	readChunk int64 // limit: size of one ranged GET (b2fs --read-chunk-size)
	readConc  int   // limit: GETs in flight (b2fs window / chunk)
	partSize  int64 // limit: large-file part size (0 = recommended)
	writeConc int   // limit: parts in flight (b2fs --upload-concurrency)

	suite  string // "main" or "writeback"
	wbRuns int    // runs of each write-back workload
	runs   int    // runs of each main-suite workload (the table gives the median run)

	b2fsArgs, rcloneArgs []string
	emuArgs              []string
}

// sizeValue is a pflag.Value for byte sizes like 1GiB or 40MB.
type sizeValue struct{ p *int64 }

func (s sizeValue) String() string {
	if s.p == nil {
		return "0"
	}
	return strconv.FormatInt(*s.p, 10)
}
func (s sizeValue) Type() string { return "size" }
func (s sizeValue) Set(v string) error {
	n, err := parseSize(v)
	if err != nil {
		return err
	}
	*s.p = n
	return nil
}

// parseSize reads a byte count with an optional K/M/G/T (powers of 1000)
// or Ki/Mi/Gi/Ti (powers of 1024) suffix, with or without a trailing B.
func parseSize(s string) (int64, error) {
	t := strings.TrimSuffix(strings.TrimSpace(s), "B")
	t = strings.TrimSuffix(t, "b")
	mult := int64(1)
	for _, u := range []struct {
		suf string
		m   int64
	}{{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"Ti", 1 << 40}, {"K", 1e3}, {"k", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12}} {
		if strings.HasSuffix(t, u.suf) {
			t, mult = strings.TrimSuffix(t, u.suf), u.m
			break
		}
	}
	n, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
	if err != nil || n < 0 || n*float64(mult) > 1<<50 {
		return 0, fmt.Errorf("invalid size %q (want e.g. 1GiB, 64MiB, 40MB)", s)
	}
	return int64(n * float64(mult)), nil
}

func parseConfig(args []string, stderr io.Writer) (*config, error) {
	c := &config{}
	fl := pflag.NewFlagSet("bench", pflag.ContinueOnError)
	fl.SetOutput(stderr)
	var (
		quick              = fl.Bool("quick", false, "small sizes for a smoke run (explicit flags still win)")
		profiles           = fl.String("profiles", "loopback,wan", "link profiles to run: loopback, wan")
		tools              = fl.String("tools", "b2fs,rclone,rclone-w", "tools to mount: b2fs, rclone (defaults), rclone-w (--vfs-cache-mode writes)")
		workloads          = fl.String("workloads", "all", "workloads: seq-read, reread, seq-write, rand-read, small-files, ls, find, bigdir, or all; find-huge (not in all) walks --huge-files names")
		wanLatency         = fl.Duration("wan-latency", 30*time.Millisecond, "latency of the wan profile")
		wanBandwidth int64 = 40_000_000
		size         int64 = 1 << 30
		readChunk    int64 = 8 << 20
		partSize     int64
		defaultCmd   = "go run ./test/bench " + strings.Join(args, " ")
	)
	fl.StringVar(&c.b2fsBin, "b2fs", "bin/b2fs", "b2fs binary")
	fl.StringVar(&c.emuBin, "b2emu", "bin/b2emu", "b2emu binary")
	fl.StringVar(&c.workDir, "work", "", "work directory (default: a new temporary directory, removed at the end)")
	fl.BoolVar(&c.keep, "keep", false, "keep the work directory (logs, emulator data)")
	fl.StringVar(&c.out, "out", "", "Markdown file to write the results into (between bench markers); empty: stdout only")
	fl.StringVar(&c.command, "command", strings.TrimSpace(defaultCmd), "command shown in the results as the way to reproduce them")
	fl.Var(sizeValue{&size}, "size", "size of the big file (sequential and random workloads)")
	fl.IntVar(&c.randReads, "rand-reads", 2000, "number of random 4 KiB reads")
	fl.DurationVar(&c.randCap, "rand-cap", 30*time.Second, "time cap of the random reads of one tool")
	fl.IntVar(&c.smallFiles, "small-files", 1000, "number of small files created with cp -r")
	fl.IntVar(&c.listFiles, "list-files", 10000, "files in the directory listed with ls -l")
	fl.IntVar(&c.treeFiles, "tree-files", 5000, "files in the tree walked with find")
	fl.IntVar(&c.bigDirFiles, "big-dir-files", 100000, "files in the big directory listed with ls -l (seeded into b2emu's journal)")
	fl.IntVar(&c.hugeFiles, "huge-files", 1000000, "files of the tree walked by the opt-in find-huge workload (seeded into b2emu's journal)")
	fl.IntVar(&c.hugeDirs, "huge-dirs", 1000, "directories of that tree")
	fl.IntVar(&c.treeDirs, "tree-dirs", 100, "directories of that tree")
	fl.Var(sizeValue{&wanBandwidth}, "wan-bandwidth", "per-request bandwidth of the wan profile in bytes/s")
	fl.DurationVar(&c.deadline, "deadline", 19*time.Minute, "time budget of the whole run; later workloads are skipped")
	fl.DurationVar(&c.stepTimout, "step-timeout", 4*time.Minute, "timeout of one workload of one tool")
	fl.Var(sizeValue{&readChunk}, "limit-read-chunk", "limit: size of one ranged GET (b2fs --read-chunk-size)")
	fl.IntVar(&c.readConc, "limit-read-concurrency", 8, "limit: GETs in flight (b2fs --read-ahead-window / --read-chunk-size)")
	fl.Var(sizeValue{&partSize}, "limit-part-size", "limit: part size of the large-file upload (0: the recommended size)")
	fl.IntVar(&c.writeConc, "limit-write-concurrency", 4, "limit: parts in flight (b2fs --upload-concurrency)")
	fl.StringVar(&c.suite, "suite", "main", "main, or writeback: cp -r, rsync -a and git commits in both b2fs modes next to rclone --vfs-cache-mode writes (tools b2fs,b2fs-wb,rclone-w; workloads cp,rsync,git; profile wan by default)")
	fl.IntVar(&c.wbRuns, "wb-runs", 3, "runs of each write-back workload (the table gives medians)")
	fl.IntVar(&c.runs, "runs", 1, "runs of each workload, the limit and the tools taking turns (the table gives each cell's median run)")
	fl.StringArrayVar(&c.b2fsArgs, "b2fs-arg", nil, "extra b2fs argument (repeatable)")
	fl.StringArrayVar(&c.rcloneArgs, "rclone-arg", nil, "extra rclone mount argument (repeatable)")
	if err := fl.Parse(args); err != nil {
		return nil, err
	}
	if fl.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fl.Arg(0))
	}
	if *quick {
		for name, v := range map[string]string{"size": "64MiB", "rand-reads": "200", "rand-cap": "10s", "small-files": "100",
			"list-files": "1200", "big-dir-files": "3000", "tree-files": "300", "tree-dirs": "10", "deadline": "5m", "step-timeout": "90s"} {
			if !fl.Changed(name) {
				if err := fl.Set(name, v); err != nil {
					return nil, err
				}
			}
		}
	}
	switch c.suite {
	case "main":
	case "writeback":
		for name, v := range map[string]string{"tools": "b2fs,b2fs-wb,rclone-w", "profiles": "wan", "workloads": "cp,rsync,git"} {
			if !fl.Changed(name) {
				if err := fl.Set(name, v); err != nil {
					return nil, err
				}
			}
		}
		if c.wbRuns < 1 {
			return nil, errors.New("--wb-runs must be positive")
		}
	default:
		return nil, fmt.Errorf("unknown suite %q (main, writeback)", c.suite)
	}
	c.size, c.readChunk, c.partSize = size, readChunk, partSize
	switch {
	case c.size < blockSize:
		return nil, errors.New("--size must be at least 1MiB")
	case c.randReads < 1 || c.smallFiles < 1 || c.listFiles < 1 || c.bigDirFiles < 1 || c.hugeFiles < 1 || c.hugeDirs < 1 || c.treeFiles < 1 || c.treeDirs < 1:
		return nil, errors.New("counts must be positive")
	case c.runs < 1:
		return nil, errors.New("--runs must be positive")
	case c.readConc < 1 || c.writeConc < 1 || c.readChunk < 4096:
		return nil, errors.New("limit concurrency and chunk must be positive")
	}
	for _, p := range splitList(*profiles) {
		switch p {
		case "loopback":
			c.profiles = append(c.profiles, profile{Name: "loopback"})
		case "wan":
			c.profiles = append(c.profiles, profile{Name: "wan", Latency: *wanLatency, Bandwidth: wanBandwidth})
		default:
			return nil, fmt.Errorf("unknown profile %q (loopback, wan)", p)
		}
	}
	for _, t := range splitList(*tools) {
		if _, ok := toolTitle[t]; !ok {
			return nil, fmt.Errorf("unknown tool %q (b2fs, b2fs-wb, rclone, rclone-w)", t)
		}
		c.tools = append(c.tools, t)
	}
	c.workloads = map[string]bool{}
	for _, w := range splitList(*workloads) {
		if c.suite == "writeback" {
			switch w {
			case "all":
				c.workloads[wbCp], c.workloads[wbRsync], c.workloads[wbGit1] = true, true, true
			case wbCp, wbRsync:
				c.workloads[w] = true
			case "git", wbGit1, wbGit100:
				c.workloads[wbGit1] = true
			default:
				return nil, fmt.Errorf("unknown write-back workload %q (cp, rsync, git)", w)
			}
			continue
		}
		switch w {
		case "all":
			for _, r := range rowOrder {
				c.workloads[r] = r != wHuge
			}
		case "ls":
			c.workloads[wLsCold], c.workloads[wLsWarm] = true, true
		case "bigdir":
			c.workloads[wBigCold], c.workloads[wBigWarm] = true, true
		case wSeqRead, wReread, wSeqWrite, wRandRead, wSmallFiles, wFind, wHuge:
			c.workloads[w] = true
		default:
			return nil, fmt.Errorf("unknown workload %q", w)
		}
	}
	if len(c.profiles) == 0 || len(c.tools) == 0 || len(c.workloads) == 0 {
		return nil, errors.New("nothing to run: give at least one profile, tool and workload")
	}
	return c, nil
}

// seededNames is how many names the run writes into b2emu's journal.
func (c *config) seededNames() int {
	n := 0
	if c.workloads[wBigCold] || c.workloads[wBigWarm] {
		n += c.bigDirFiles
	}
	if c.workloads[wHuge] {
		n += c.hugeFiles
	}
	return n
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func cliMain(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseConfig(args, stderr)
	if err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if cfg.suite == "writeback" {
		return writeBackMain(ctx, cfg, stdout, stderr)
	}
	rep, err := run(ctx, cfg, stderr)
	if rep != nil {
		if perr := publish(cfg, rep, stdout); perr != nil {
			fmt.Fprintf(stderr, "bench: %v\n", perr)
			return 1
		}
		if cfg.out != "" {
			fmt.Fprintf(stderr, "bench: results written to %s\n", cfg.out)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 1
	}
	return 0
}

// publish prints the table and writes it into cfg.out when set.
func publish(cfg *config, rep *report, stdout io.Writer) error {
	table := rep.markdown()
	fmt.Fprintln(stdout, table)
	if cfg.out == "" {
		return nil
	}
	return writeDoc(cfg.out, rep.document(table))
}

// prepareRun makes the binaries' paths absolute and creates the work
// directory when none was given; cleanup removes it unless it is kept.
func prepareRun(cfg *config, tmpPrefix string) (cleanup func(), err error) {
	cleanup = func() {}
	for _, b := range []*string{&cfg.b2fsBin, &cfg.emuBin} {
		abs, err := filepath.Abs(*b)
		if err != nil {
			return cleanup, err
		}
		if _, err := os.Stat(abs); err != nil {
			return cleanup, fmt.Errorf("binary: %w (build with go build -o bin/ ./cmd/...)", err)
		}
		*b = abs
	}
	if cfg.workDir == "" {
		d, err := os.MkdirTemp("", tmpPrefix)
		if err != nil {
			return cleanup, err
		}
		cfg.workDir = d
		if !cfg.keep {
			cleanup = func() { os.RemoveAll(d) }
		}
	} else if err := os.MkdirAll(cfg.workDir, 0o700); err != nil {
		return cleanup, err
	}
	cfg.workDir, _ = filepath.Abs(cfg.workDir)
	return cleanup, nil
}

// run performs the whole benchmark and returns its report (also when it
// fails part way, with what was measured).
func run(ctx context.Context, cfg *config, logw io.Writer) (*report, error) {
	start := time.Now()
	logf := func(format string, args ...any) {
		fmt.Fprintf(logw, "[bench %6.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}
	cleanup, err := prepareRun(cfg, "b2fs-bench-")
	if err != nil {
		return nil, err
	}
	defer cleanup()
	logf("work directory %s", cfg.workDir)
	rep := newReport(cfg, start)
	ms := &mounts{}
	defer ms.cleanup()

	smallSrc := filepath.Join(cfg.workDir, "src", "small")
	if err := os.RemoveAll(smallSrc); err != nil {
		return rep, err
	}
	if err := makeSmallTree(smallSrc, cfg.smallFiles); err != nil {
		return rep, fmt.Errorf("make small files: %w", err)
	}
	var kb [18]byte
	if _, err := rand.Read(kb[:]); err != nil {
		return rep, err
	}
	keyID, key, bucket := "benchkey", "K"+hex.EncodeToString(kb[:]), "b2fs-bench"
	dataDir := filepath.Join(cfg.workDir, "emu-data")
	if err := os.RemoveAll(dataDir); err != nil {
		return rep, err
	}
	pat := newPattern(cfg.size)
	deadline := start.Add(cfg.deadline)
	if cfg.workloads[wBigCold] || cfg.workloads[wBigWarm] || cfg.workloads[wHuge] {
		if err := seedBigDir(ctx, cfg, dataDir, bucket, keyID, key, logf); err != nil {
			return rep, err
		}
	}

	for pi, prof := range cfg.profiles {
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
		emu, err := startEmulator(ctx, cfg.emuBin, dataDir, filepath.Join(cfg.workDir, "logs-b2emu.log"), prof, keyID, key, bucket, emuStartWait(cfg.seededNames()))
		if err != nil {
			return rep, err
		}
		err = runProfile(ctx, cfg, rep, ms, emu, prof, pi == 0, pat, smallSrc, keyID, key, bucket, deadline, logf)
		ms.cleanup()
		emu.stop()
		if err != nil {
			return rep, fmt.Errorf("profile %s: %w", prof.Name, err)
		}
	}
	rep.finished = time.Now()
	return rep, nil
}

func runProfile(ctx context.Context, cfg *config, rep *report, ms *mounts, emu *emulator, prof profile, first bool,
	pat *pattern, smallSrc, keyID, key, bucket string, deadline time.Time, logf func(string, ...any)) error {
	logf("profile %s: b2emu at %s", prof.describe(), emu.url)
	r := &runner{cfg: cfg, prof: prof, emu: emu, pat: pat, smallSrc: smallSrc, ms: ms, logf: logf, probeCnt: &callCounter{}}
	newClient := func(obs b2client.Observer) (*b2client.Client, error) {
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		return b2client.New(cctx, b2client.Config{Endpoint: emu.url, KeyID: keyID, Key: key, Observer: obs,
			HTTPClient: &http.Client{Transport: b2client.NewTransport()}, MinBackoff: 100 * time.Millisecond, MaxBackoff: 2 * time.Second})
	}
	var err error
	if r.probe, err = newClient(func(ev b2client.RequestEvent) { r.probeCnt.add(ev.API) }); err != nil {
		return fmt.Errorf("probe client: %w", err)
	}
	if r.direct, err = newClient(nil); err != nil {
		return fmt.Errorf("direct client: %w", err)
	}
	bctx, cancel := context.WithTimeout(ctx, time.Minute)
	b, err := r.probe.BucketByName(bctx, bucket)
	cancel()
	if err != nil || b == nil {
		return fmt.Errorf("bucket %s: %v", bucket, err)
	}
	r.bucketID = b.ID
	r.env = &mountEnv{b2fsBin: cfg.b2fsBin, url: emu.url, keyID: keyID, key: key, bucket: bucket,
		workDir: cfg.workDir, b2fsArgs: cfg.b2fsArgs, rcArgs: cfg.rcloneArgs, seq: 1000 * len(rep.profiles),
		b2fsCacheDir: b2fsHasFlag(cfg.b2fsBin, "--cache-dir")}
	if first {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
		err := seed(sctx, r.probe, r.bucketID, cfg, pat, logf)
		cancel()
		if err != nil {
			return err
		}
	}
	fctx, cancel := context.WithTimeout(ctx, time.Minute)
	p, err := r.probe.ListFileNames(fctx, r.bucketID, b2client.ListOptions{Prefix: bigName, PageSize: 1})
	cancel()
	if err != nil || len(p.Files) == 0 || p.Files[0].Name != bigName || p.Files[0].Size != pat.size {
		return fmt.Errorf("seeded %s not found (%v)", bigName, err)
	}
	r.bigID = p.Files[0].ID
	rep.profiles = append(rep.profiles, prof)

	type wl struct {
		rows  []string
		tool  func(context.Context, *mount) ([]*result, error)
		limit func(context.Context) []*result
	}
	wls := []wl{
		{[]string{wSeqRead}, r.seqRead, r.seqReadLimit},
		{[]string{wReread}, r.reread, r.rereadLimit},
		{[]string{wSeqWrite}, r.seqWrite, r.seqWriteLimit},
		{[]string{wRandRead}, r.randRead, r.randReadLimit},
		{[]string{wSmallFiles}, r.smallFiles, r.smallFilesLimit},
		{[]string{wLsCold, wLsWarm}, r.lsColdWarm, func(ctx context.Context) []*result {
			return append(r.listLimit(ctx, listPrefix, "/", cfg.listFiles), nil)
		}},
		{[]string{wFind}, r.find, func(ctx context.Context) []*result {
			return r.listLimit(ctx, treePrefix, "", cfg.treeFiles)
		}},
		{[]string{wBigCold, wBigWarm}, r.bigDirColdWarm, func(ctx context.Context) []*result {
			return append(r.listLimit(ctx, bigDirPrefix, "/", cfg.bigDirFiles), nil)
		}},
		{[]string{wHuge}, r.findHuge, func(ctx context.Context) []*result {
			return r.listLimit(ctx, hugePrefix, "", cfg.hugeFiles)
		}},
	}
	for _, w := range wls {
		want := false
		for _, row := range w.rows {
			want = want || cfg.workloads[row]
		}
		if !want {
			continue
		}
		rows := make([]*row, len(w.rows))
		for i, name := range w.rows {
			rows[i] = rep.row(prof.Name, name)
		}
		step := func() (context.Context, context.CancelFunc, bool) {
			left := time.Until(deadline)
			if left <= 0 || ctx.Err() != nil {
				return nil, nil, false
			}
			c, cancel := context.WithTimeout(ctx, min(cfg.stepTimout, left))
			return c, cancel, true
		}
		// Every run measures the limit and then each tool, so that a
		// change in the machine's load hits all of them alike; each cell
		// keeps its median run.
		runs := make([]map[string][]*result, len(rows))
		for i := range runs {
			runs[i] = map[string][]*result{}
		}
		record := func(who string, res []*result) {
			for i, rw := range rows {
				if i < len(res) && res[i] != nil {
					runs[i][who] = append(runs[i][who], res[i])
					logf("%-8s %-11s %-8s %s", prof.Name, rw.workload, who, res[i].summary(rw.workload))
				}
			}
		}
		for run := 0; run < cfg.runs; run++ {
			if sctx, cancel, ok := step(); ok {
				cm := startCPU(r.emu.pid(), func() (time.Duration, bool) { return selfCPU(), true })
				res := w.limit(sctx)
				setCPU(res, cm.stop("driver"))
				record(limitKey, res)
				cancel()
			}
			for _, tool := range cfg.tools {
				sctx, cancel, ok := step()
				if !ok {
					why := "skipped: time budget (--deadline) used up"
					if ctx.Err() != nil {
						why = "skipped: run interrupted"
					}
					skipped := make([]*result, len(rows))
					for i := range skipped {
						skipped[i] = &result{err: why}
					}
					record(tool, skipped)
					continue
				}
				record(tool, r.toolRun(sctx, tool, w.tool, len(rows)))
				cancel()
			}
		}
		for i, rw := range rows {
			for who, rs := range runs[i] {
				rw.res[who] = medianRun(rs, unitOf[rw.workload].higher)
			}
		}
		if w.rows[0] == wSeqWrite {
			// The written big files are not needed again.
			cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			for _, tool := range cfg.tools {
				r.deleteAll(cctx, r.writeName(tool, "big.bin"))
			}
			cancel()
		}
	}
	return ctx.Err()
}
