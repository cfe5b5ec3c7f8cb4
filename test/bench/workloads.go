package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/b2fs/b2fs/b2client"
)

// Row names, in table order.
const (
	wSeqRead    = "seq-read"
	wReread     = "reread"
	wSeqWrite   = "seq-write"
	wRandRead   = "rand-read"
	wSmallFiles = "small-files"
	wLsCold     = "ls-cold"
	wLsWarm     = "ls-warm"
	wFind       = "find"
	wBigCold    = "bigdir-cold"
	wBigWarm    = "bigdir-warm"
	wHuge       = "find-huge" // opt-in: not part of "all"
)

// rowOrder is the table's row order; workload selection uses these names
// ("ls" selects both listing rows).
var rowOrder = []string{wSeqRead, wReread, wSeqWrite, wRandRead, wSmallFiles, wLsCold, wLsWarm, wFind, wBigCold, wBigWarm, wHuge}

// unitOf says how a row's value is expressed and whether more is better.
var unitOf = map[string]struct {
	unit   string
	higher bool
}{
	wSeqRead:    {"MiB/s", true},
	wReread:     {"MiB/s", true},
	wSeqWrite:   {"MiB/s", true},
	wRandRead:   {"reads/s", true},
	wSmallFiles: {"s", false},
	wLsCold:     {"s", false},
	wLsWarm:     {"s", false},
	wFind:       {"s", false},
	wBigCold:    {"s", false},
	wBigWarm:    {"s", false},
	wHuge:       {"s", false},
}

// result is one measurement of one tool (or of the limit) on one row.
type result struct {
	value    float64 // in the row's unit
	secs     float64 // wall time of the measured part
	calls    calls
	callsSet bool
	apis     map[string]int64 // calls by API name (logged)
	rss      int64            // peak RSS in bytes, 0 when unknown
	err      string
	note     string
}

func failed(err error) *result { return &result{err: oneLine(err.Error())} }

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

// runner carries the state shared by the workloads of one profile.
type runner struct {
	cfg      *config
	prof     profile
	emu      *emulator
	probe    *b2client.Client // durability checks; its calls are subtracted
	probeCnt *callCounter
	direct   *b2client.Client // the limit measurements
	bucketID string
	pat      *pattern
	bigID    string
	smallSrc string
	ms       *mounts
	env      *mountEnv
	logf     func(string, ...any)
}

// resetCounters starts a counting window.
func (r *runner) resetCounters(ctx context.Context) error {
	r.probeCnt.take()
	return r.emu.resetStats(ctx)
}

// readCounters ends a counting window: b2emu's counts minus the harness's
// own probe calls, by class and by API.
func (r *runner) readCounters(ctx context.Context) (calls, map[string]int64, error) {
	_, api, err := r.emu.stats(ctx)
	if err != nil {
		return calls{}, nil, err
	}
	api = subtract(api, r.probeCnt.take())
	return classify(api), api, nil
}

// guard runs fn, which touches the mount m, and gives up when ctx ends:
// it then kills the mount so that any system call blocked in it returns.
func guard(ctx context.Context, m *mount, fn func() error) error {
	errc := make(chan error, 1)
	go func() { errc <- fn() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	if m.cmd != nil && m.cmd.Process != nil {
		_ = m.cmd.Process.Kill()
	}
	_ = exec.Command("fusermount3", "-u", "-z", m.dir).Run()
	select {
	case <-errc:
	case <-time.After(15 * time.Second):
	}
	return fmt.Errorf("timed out: %w", ctx.Err())
}

// runCmd runs a command under guard and returns its standard output.
func runCmd(ctx context.Context, m *mount, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.WaitDelay = 5 * time.Second
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := guard(ctx, m, cmd.Run)
	if err != nil {
		return out.Bytes(), fmt.Errorf("%s: %w: %s", name, err, oneLine(errb.String()))
	}
	return out.Bytes(), nil
}

// toolRun mounts the bucket with tool, runs fn on the fresh mount and
// fills in the calls (from the reset fn made, through the unmount) and the
// peak RSS of the results fn leaves without them.
func (r *runner) toolRun(ctx context.Context, tool string, fn func(ctx context.Context, m *mount) ([]*result, error), n int) []*result {
	out := make([]*result, n)
	m, err := r.ms.startMount(ctx, r.env, tool)
	if err != nil {
		for i := range out {
			out[i] = failed(err)
		}
		return out
	}
	res, err := fn(ctx, m)
	rss, rssErr := m.peakRSS()
	r.ms.stop(m)
	if err != nil {
		if lt := tail(m.logPath); !strings.HasPrefix(lt, "(") {
			err = fmt.Errorf("%w (%s log: %s)", err, tool, lt)
		}
		for i := range out {
			if i < len(res) && res[i] != nil && res[i].err == "" && res[i].callsSet {
				out[i] = res[i]
				continue
			}
			out[i] = failed(err)
		}
		return out
	}
	cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, api, cerr := r.readCounters(cctx)
	for i := range out {
		if i >= len(res) || res[i] == nil {
			out[i] = failed(errors.New("no result"))
			continue
		}
		out[i] = res[i]
		if !out[i].callsSet {
			if cerr != nil {
				out[i].note = strings.TrimSpace(out[i].note + " calls: " + cerr.Error())
			} else {
				out[i].calls, out[i].apis, out[i].callsSet = c, api, true
			}
		}
		if out[i].rss == 0 && rssErr == nil {
			out[i].rss = rss
		}
	}
	return out
}

// prepare looks up dir through the mount (so the workload's own counts do
// not include finding its directory) and starts the counting window.
func (r *runner) prepare(ctx context.Context, m *mount, dir string) error {
	if dir != "" {
		if err := guard(ctx, m, func() error { _, err := os.Stat(filepath.Join(m.dir, dir)); return err }); err != nil {
			return err
		}
	}
	return r.resetCounters(ctx)
}

// ---- sequential read ----

func (r *runner) seqRead(ctx context.Context, m *mount) ([]*result, error) {
	if err := r.prepare(ctx, m, filepath.Dir(bigName)); err != nil {
		return nil, err
	}
	path := filepath.Join(m.dir, bigName)
	t0 := time.Now()
	var n int64
	err := guard(ctx, m, func() error {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		buf := make([]byte, blockSize)
		scratch := make([]byte, blockSize)
		for blk := int64(0); ; blk++ {
			k, err := io.ReadFull(f, buf)
			if k > 0 && (blk%8 == 0 || int64(k) < blockSize) && !r.pat.check(buf[:k], n, scratch) {
				return fmt.Errorf("wrong data in block %d", blk)
			}
			n += int64(k)
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil
			}
			if err != nil {
				return err
			}
		}
	})
	secs := time.Since(t0).Seconds()
	if err != nil {
		return nil, err
	}
	if n != r.pat.size {
		return nil, fmt.Errorf("read %d bytes, want %d", n, r.pat.size)
	}
	return []*result{{value: mib(n) / secs, secs: secs}}, nil
}

func (r *runner) seqReadLimit(ctx context.Context) []*result {
	if err := r.emu.resetStats(ctx); err != nil {
		return []*result{failed(err)}
	}
	chunk, conc := r.cfg.readChunk, r.cfg.readConc
	nchunks := int((r.pat.size + chunk - 1) / chunk)
	t0 := time.Now()
	next := make(chan int)
	errc := make(chan error, conc)
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for w := 0; w < conc; w++ {
		go func() {
			buf := make([]byte, chunk)
			scratch := make([]byte, chunk)
			for i := range next {
				off := int64(i) * chunk
				length := min(chunk, r.pat.size-off)
				rd, err := r.direct.Download(cctx, b2client.DownloadRequest{FileID: r.bigID, Offset: off, Length: length})
				if err == nil {
					_, err = io.ReadFull(rd, buf[:length])
					rd.Close()
				}
				if err == nil && i%8 == 0 && !r.pat.check(buf[:length], off, scratch) {
					err = fmt.Errorf("wrong data in chunk %d", i)
				}
				if err != nil {
					cancel()
					errc <- err
					for range next {
					}
					return
				}
			}
			errc <- nil
		}()
	}
	for i := 0; i < nchunks; i++ {
		if cctx.Err() != nil {
			break
		}
		select {
		case next <- i:
		case <-cctx.Done():
		}
	}
	close(next)
	var err error
	for w := 0; w < conc; w++ {
		if e := <-errc; e != nil && err == nil {
			err = e
		}
	}
	secs := time.Since(t0).Seconds()
	if err != nil {
		return []*result{failed(err)}
	}
	return []*result{r.limitCalls(ctx, &result{value: mib(r.pat.size) / secs, secs: secs,
		note: fmt.Sprintf("%d parallel ranged GETs of %s", conc, sizeString(chunk))})}
}

// limitCalls fills in the calls the limit measurement made.
func (r *runner) limitCalls(ctx context.Context, res *result) *result {
	c, api, err := r.emu.stats(ctx)
	if err == nil {
		res.calls, res.apis, res.callsSet = c, api, true
	}
	return res
}

// ---- sequential write ----

func (r *runner) writeName(tool, what string) string {
	return fmt.Sprintf("w-%s-%s/%s", r.prof.Name, tool, what)
}

func (r *runner) seqWrite(ctx context.Context, m *mount) ([]*result, error) {
	name := r.writeName(m.tool, "big.bin")
	dir := filepath.Join(m.dir, filepath.Dir(name))
	if err := guard(ctx, m, func() error { return os.MkdirAll(dir, 0o755) }); err != nil {
		return nil, fmt.Errorf("mkdir: %w", err)
	}
	if err := r.prepare(ctx, m, filepath.Dir(name)); err != nil {
		return nil, err
	}
	t0 := time.Now()
	var written float64
	err := guard(ctx, m, func() error {
		f, err := os.OpenFile(filepath.Join(m.dir, name), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
		if err != nil {
			return err
		}
		buf := make([]byte, blockSize)
		for off := int64(0); off < r.pat.size; off += blockSize {
			k, _ := r.pat.ReadAt(buf, off)
			if _, err := f.Write(buf[:k]); err != nil {
				f.Close()
				return err
			}
		}
		written = time.Since(t0).Seconds()
		return f.Close()
	})
	closed := time.Since(t0).Seconds()
	if err != nil {
		return nil, err
	}
	if err := r.waitDurable(ctx, name, 1, r.pat.size); err != nil {
		return nil, err
	}
	secs := time.Since(t0).Seconds()
	res := &result{value: mib(r.pat.size) / secs, secs: secs}
	res.note = fmt.Sprintf("writes took %.1fs, close %.1fs", written, closed-written)
	if secs > closed+0.5 {
		res.note += fmt.Sprintf(", durable %.1fs after close", secs-closed)
	}
	return []*result{res}, nil
}

func (r *runner) seqWriteLimit(ctx context.Context) []*result {
	sum, err := r.pat.sha1Hex()
	if err != nil {
		return []*result{failed(err)}
	}
	if err := r.emu.resetStats(ctx); err != nil {
		return []*result{failed(err)}
	}
	name := r.writeName("limit", "big.bin")
	t0 := time.Now()
	f, err := r.direct.UploadLargeFile(ctx, b2client.UploadRequest{BucketID: r.bucketID, Name: name, SHA1: sum, ContentType: "application/octet-stream"},
		r.pat, r.pat.size, b2client.LargeFileOptions{PartSize: r.cfg.partSize, Concurrency: r.cfg.writeConc})
	secs := time.Since(t0).Seconds()
	if err != nil {
		return []*result{failed(err)}
	}
	res := r.limitCalls(ctx, &result{value: mib(r.pat.size) / secs, secs: secs,
		note: fmt.Sprintf("b2client UploadLargeFile, %d parts in flight", r.cfg.writeConc)})
	r.deleteAll(ctx, f.Name)
	return []*result{res}
}

// waitDurable polls B2 (through the probe client, whose calls are not
// counted) until name (or, with want > 1, want files under the prefix
// name) is there with the expected size.
func (r *runner) waitDurable(ctx context.Context, name string, want int, size int64) error {
	for {
		n, err := r.countFiles(ctx, name, size)
		if err != nil {
			return fmt.Errorf("check durability: %w", err)
		}
		if n >= want {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d files durable in B2: %w", n, want, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// countFiles counts the files whose name starts with prefix (and, when
// size >= 0, that have that size).
func (r *runner) countFiles(ctx context.Context, prefix string, size int64) (int, error) {
	n := 0
	start := ""
	for pages := 0; pages < 1000; pages++ {
		p, err := r.probe.ListFileNames(ctx, r.bucketID, b2client.ListOptions{Prefix: prefix, StartName: start, PageSize: 10000})
		if err != nil {
			return n, err
		}
		for _, f := range p.Files {
			if f.Action == "upload" && (size < 0 || f.Size == size) {
				n++
			}
		}
		if p.NextName == "" {
			return n, nil
		}
		start = p.NextName
	}
	return n, errors.New("listing did not end")
}

// deleteAll removes every version of every file under prefix, to keep the
// emulator's disk use bounded (outside any counting window).
func (r *runner) deleteAll(ctx context.Context, prefix string) {
	start, startID := "", ""
	for pages := 0; pages < 100; pages++ {
		p, err := r.probe.ListFileVersions(ctx, r.bucketID, b2client.ListOptions{Prefix: prefix, StartName: start, StartID: startID, PageSize: 1000})
		if err != nil {
			r.logf("cleanup %s: %v", prefix, err)
			return
		}
		for _, f := range p.Files {
			if f.Action == "upload" || f.Action == "hide" {
				if err := r.probe.DeleteFileVersion(ctx, f.Name, f.ID); err != nil {
					r.logf("cleanup %s: %v", f.Name, err)
				}
			}
		}
		if p.NextName == "" {
			return
		}
		start, startID = p.NextName, p.NextID
	}
}

// ---- random reads ----

type fioOut struct {
	Jobs []struct {
		Read struct {
			TotalIOs int64 `json:"total_ios"`
			Runtime  int64 `json:"runtime"` // ms
		} `json:"read"`
	} `json:"jobs"`
}

func (r *runner) randRead(ctx context.Context, m *mount) ([]*result, error) {
	if err := r.prepare(ctx, m, filepath.Dir(bigName)); err != nil {
		return nil, err
	}
	capSecs := int(r.cfg.randCap.Seconds())
	t0 := time.Now()
	out, err := runCmd(ctx, m, "fio", "--name=randread", "--filename="+filepath.Join(m.dir, bigName),
		"--readonly", "--rw=randread", "--bs=4k", fmt.Sprintf("--size=%d", r.pat.size),
		fmt.Sprintf("--number_ios=%d", r.cfg.randReads), fmt.Sprintf("--runtime=%d", capSecs),
		"--ioengine=psync", "--direct=0", "--invalidate=1", "--randrepeat=1", "--norandommap",
		"--output-format=json")
	secs := time.Since(t0).Seconds()
	if err != nil {
		return nil, err
	}
	i := bytes.IndexByte(out, '{')
	if i < 0 {
		return nil, fmt.Errorf("fio printed no JSON: %s", oneLine(string(out)))
	}
	var fo fioOut
	if err := json.Unmarshal(out[i:], &fo); err != nil {
		return nil, fmt.Errorf("fio JSON: %w", err)
	}
	if len(fo.Jobs) == 0 || fo.Jobs[0].Read.TotalIOs == 0 || fo.Jobs[0].Read.Runtime <= 0 {
		return nil, fmt.Errorf("fio made no reads")
	}
	rd := fo.Jobs[0].Read
	res := &result{value: float64(rd.TotalIOs) / (float64(rd.Runtime) / 1000), secs: secs}
	if rd.TotalIOs < int64(r.cfg.randReads) {
		res.note = fmt.Sprintf("%d of %d reads within the %ds cap", rd.TotalIOs, r.cfg.randReads, capSecs)
	}
	return []*result{res}, nil
}

func (r *runner) randReadLimit(ctx context.Context) []*result {
	if err := r.emu.resetStats(ctx); err != nil {
		return []*result{failed(err)}
	}
	rnd := rand.New(rand.NewPCG(7, 77))
	blocks := r.pat.size / 4096
	buf := make([]byte, 4096)
	scratch := make([]byte, 4096)
	t0 := time.Now()
	deadline := t0.Add(r.cfg.randCap)
	n := 0
	for ; n < r.cfg.randReads && time.Now().Before(deadline); n++ {
		off := rnd.Int64N(blocks) * 4096
		rd, err := r.direct.Download(ctx, b2client.DownloadRequest{FileID: r.bigID, Offset: off, Length: 4096})
		if err == nil {
			_, err = io.ReadFull(rd, buf)
			rd.Close()
		}
		if err == nil && !r.pat.check(buf, off, scratch) {
			err = fmt.Errorf("wrong data at %d", off)
		}
		if err != nil {
			return []*result{failed(err)}
		}
	}
	secs := time.Since(t0).Seconds()
	return []*result{r.limitCalls(ctx, &result{value: float64(n) / secs, secs: secs, note: "one 4 KiB ranged GET at a time"})}
}

// ---- small files ----

func (r *runner) smallFiles(ctx context.Context, m *mount) ([]*result, error) {
	dst := r.writeName(m.tool, "small")
	parent := filepath.Join(m.dir, filepath.Dir(dst))
	if err := guard(ctx, m, func() error { return os.MkdirAll(parent, 0o755) }); err != nil {
		return nil, fmt.Errorf("mkdir: %w", err)
	}
	if err := r.prepare(ctx, m, filepath.Dir(dst)); err != nil {
		return nil, err
	}
	t0 := time.Now()
	if _, err := runCmd(ctx, m, "cp", "-r", r.smallSrc, filepath.Join(m.dir, dst)); err != nil {
		return nil, err
	}
	closed := time.Since(t0).Seconds()
	if err := r.waitDurable(ctx, dst+"/", r.cfg.smallFiles, -1); err != nil {
		return nil, err
	}
	secs := time.Since(t0).Seconds()
	res := &result{value: secs, secs: secs}
	if secs > closed+0.5 {
		res.note = fmt.Sprintf("cp returned after %.1fs, durable after %.1fs", closed, secs)
	}
	return []*result{res}, nil
}

func (r *runner) smallFilesLimit(ctx context.Context) []*result {
	if err := r.emu.resetStats(ctx); err != nil {
		return []*result{failed(err)}
	}
	dst := r.writeName("limit", "small")
	var files []string
	err := filepath.WalkDir(r.smallSrc, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		return []*result{failed(err)}
	}
	bodies := make([][]byte, len(files))
	for i, p := range files {
		if bodies[i], err = os.ReadFile(p); err != nil {
			return []*result{failed(err)}
		}
	}
	t0 := time.Now()
	for i, p := range files {
		rel, _ := filepath.Rel(r.smallSrc, p)
		if _, err := r.direct.UploadFile(ctx, b2client.UploadRequest{BucketID: r.bucketID, Name: dst + "/" + filepath.ToSlash(rel)},
			bytes.NewReader(bodies[i]), int64(len(bodies[i]))); err != nil {
			return []*result{failed(err)}
		}
	}
	secs := time.Since(t0).Seconds()
	return []*result{r.limitCalls(ctx, &result{value: secs, secs: secs, note: "one b2_upload_file at a time, as cp writes"})}
}

// ---- listings ----

func (r *runner) lsRun(ctx context.Context, m *mount, dir string) (float64, error) {
	return r.lsCount(ctx, m, dir, r.cfg.listFiles)
}

// lsCount times ls -l of dir, which must list want entries.
func (r *runner) lsCount(ctx context.Context, m *mount, dir string, want int) (float64, error) {
	t0 := time.Now()
	out, err := runCmd(ctx, m, "ls", "-l", filepath.Join(m.dir, dir))
	secs := time.Since(t0).Seconds()
	if err != nil {
		return 0, err
	}
	if n := bytes.Count(out, []byte("\n")) - 1; n != want { // minus "total"
		return 0, fmt.Errorf("ls -l listed %d entries, want %d", n, want)
	}
	return secs, nil
}

func (r *runner) lsColdWarm(ctx context.Context, m *mount) ([]*result, error) {
	dir := strings.TrimSuffix(listPrefix, "/")
	if err := r.prepare(ctx, m, dir); err != nil {
		return nil, err
	}
	cold, err := r.lsRun(ctx, m, dir)
	if err != nil {
		return nil, err
	}
	c, api, err := r.readCounters(ctx)
	if err != nil {
		return nil, err
	}
	rc := &result{value: cold, secs: cold, calls: c, apis: api, callsSet: true}
	rc.rss, _ = m.peakRSS()
	if err := r.resetCounters(ctx); err != nil {
		return nil, err
	}
	warm, err := r.lsRun(ctx, m, dir)
	if err != nil {
		return []*result{rc}, err
	}
	return []*result{rc, {value: warm, secs: warm}}, nil
}

// listLimit lists prefix with the fewest calls B2 allows (10,000 names a
// page), rolled up at "/" when delim is set.
func (r *runner) listLimit(ctx context.Context, prefix, delim string, want int) []*result {
	if err := r.emu.resetStats(ctx); err != nil {
		return []*result{failed(err)}
	}
	t0 := time.Now()
	n, start := 0, ""
	for pages := 0; ; pages++ {
		if pages > 1000 {
			return []*result{failed(errors.New("listing did not end"))}
		}
		p, err := r.direct.ListFileNames(ctx, r.bucketID, b2client.ListOptions{Prefix: prefix, Delimiter: delim, StartName: start, PageSize: 10000})
		if err != nil {
			return []*result{failed(err)}
		}
		n += len(p.Files)
		if p.NextName == "" {
			break
		}
		start = p.NextName
	}
	secs := time.Since(t0).Seconds()
	if n < want {
		return []*result{failed(fmt.Errorf("listed %d names, want %d", n, want))}
	}
	note := "b2_list_file_names, 10,000 a page"
	if delim == "" {
		note += ", whole tree in one flat listing"
	}
	return []*result{r.limitCalls(ctx, &result{value: secs, secs: secs, note: note})}
}

func (r *runner) find(ctx context.Context, m *mount) ([]*result, error) {
	dir := strings.TrimSuffix(treePrefix, "/")
	if err := r.prepare(ctx, m, dir); err != nil {
		return nil, err
	}
	t0 := time.Now()
	out, err := runCmd(ctx, m, "find", filepath.Join(m.dir, dir), "-type", "f")
	secs := time.Since(t0).Seconds()
	if err != nil {
		return nil, err
	}
	if n := bytes.Count(out, []byte("\n")); n != r.cfg.treeFiles {
		return nil, fmt.Errorf("find listed %d files, want %d", n, r.cfg.treeFiles)
	}
	return []*result{{value: secs, secs: secs}}, nil
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

func sizeString(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}
