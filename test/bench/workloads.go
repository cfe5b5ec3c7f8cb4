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
	cpu      string // CPU time of the processes involved (logged only)
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
	cm := startCPU(r.emu.pid(), m.cpu)
	res, err := fn(ctx, m)
	rss, rssErr := m.peakRSS()
	r.ms.stop(m)
	setCPU(res, cm.stop(tool))
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
