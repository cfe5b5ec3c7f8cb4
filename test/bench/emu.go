package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// calls counts B2 transactions by billing class.
type calls struct{ A, B, C int64 }

func (c calls) String() string { return fmt.Sprintf("%d/%d/%d", c.A, c.B, c.C) }

func (c calls) sub(o calls) calls {
	return calls{max(0, c.A-o.A), max(0, c.B-o.B), max(0, c.C-o.C)}
}

// apiClass is the billing class of each Native API call (B2 API reference
// §12); it classifies the calls the harness itself makes.
var apiClass = map[string]byte{
	"b2_cancel_large_file": 'A', "b2_delete_bucket": 'A', "b2_delete_file_version": 'A',
	"b2_delete_key": 'A', "b2_finish_large_file": 'A', "b2_get_upload_part_url": 'A',
	"b2_get_upload_url": 'A', "b2_hide_file": 'A', "b2_start_large_file": 'A',
	"b2_upload_file": 'A', "b2_upload_part": 'A',
	"b2_download_file_by_id": 'B', "b2_download_file_by_name": 'B', "b2_get_file_info": 'B',
	"b2_authorize_account": 'C', "b2_copy_file": 'C', "b2_copy_part": 'C',
	"b2_create_bucket": 'C', "b2_create_key": 'C', "b2_get_download_authorization": 'C',
	"b2_list_buckets": 'C', "b2_list_file_names": 'C', "b2_list_file_versions": 'C',
	"b2_list_keys": 'C', "b2_list_parts": 'C', "b2_list_unfinished_large_files": 'C',
	"b2_update_bucket": 'C',
}

// callCounter counts calls by API name; it is a b2client Observer target.
type callCounter struct {
	mu  sync.Mutex // guards api
	api map[string]int64
}

func (k *callCounter) add(api string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.api == nil {
		k.api = map[string]int64{}
	}
	k.api[api]++
}

// take returns the counts and zeroes them.
func (k *callCounter) take() map[string]int64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	m := k.api
	k.api = nil
	return m
}

// classify sums calls by API into billing classes.
func classify(api map[string]int64) calls {
	var c calls
	for name, n := range api {
		switch apiClass[name] {
		case 'A':
			c.A += n
		case 'B':
			c.B += n
		case 'C':
			c.C += n
		}
	}
	return c
}

// subtract returns a minus b, per API, dropping zero counts.
func subtract(a, b map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, v := range a {
		if v -= b[k]; v > 0 {
			out[k] = v
		}
	}
	return out
}

// apiSummary is a compact "name×count" list of calls, for logs.
func apiSummary(api map[string]int64) string {
	names := make([]string, 0, len(api))
	for k := range api {
		names = append(names, k)
	}
	sort.Strings(names)
	var parts []string
	for _, k := range names {
		parts = append(parts, fmt.Sprintf("%s×%d", strings.TrimPrefix(k, "b2_"), api[k]))
	}
	return strings.Join(parts, " ")
}

// emulator is a running cmd/b2emu process.
type emulator struct {
	url  string
	cmd  *exec.Cmd
	done chan struct{}
	hc   *http.Client
}

// emuStartWait is how long b2emu may take to replay its journal and
// listen: a minute, and three more per million names seeded into it (a
// loaded 2-core machine replays a million in well under one).
func emuStartWait(seededNames int) time.Duration {
	return time.Minute + time.Duration(seededNames)*3*time.Minute/1_000_000
}

// startEmulator runs b2emu on a free port of 127.0.0.1 with persistent
// state in dataDir and the link profile p, waiting up to wait for it to
// listen; the key travels in the environment only.
func startEmulator(ctx context.Context, bin, dataDir, logPath string, p profile, keyID, key, bucket string, wait time.Duration) (*emulator, error) {
	args := []string{"--listen", "127.0.0.1:0", "--key-id", keyID, "--bucket", bucket, "--data", dataDir}
	if p.Latency > 0 {
		args = append(args, "--latency", p.Latency.String())
	}
	if p.Bandwidth > 0 {
		args = append(args, "--bandwidth", strconv.FormatInt(p.Bandwidth, 10))
	}
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "B2EMU_KEY="+key)
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start b2emu: %w", err)
	}
	e := &emulator{cmd: cmd, done: make(chan struct{}), hc: &http.Client{Timeout: 30 * time.Second}}
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "b2emu listening on "); ok {
				select {
				case urlc <- strings.TrimSpace(u):
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	go func() { _ = cmd.Wait(); close(e.done) }()
	select {
	case e.url = <-urlc:
		return e, nil
	case <-e.done:
		return nil, fmt.Errorf("b2emu exited before listening (see %s)", logPath)
	case <-time.After(wait):
	case <-ctx.Done():
	}
	e.stop()
	return nil, fmt.Errorf("b2emu did not start listening within %v (see %s)", wait, logPath)
}

// stop ends the emulator (SIGTERM, then SIGKILL after 10 s).
func (e *emulator) stop() {
	if e == nil || e.cmd.Process == nil {
		return
	}
	_ = e.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-e.done:
	case <-time.After(10 * time.Second):
		_ = e.cmd.Process.Kill()
		<-e.done
	}
}

// resetStats zeroes b2emu's transaction counters.
func (e *emulator) resetStats(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url+"/b2emu/stats/reset", nil)
	if err != nil {
		return err
	}
	resp, err := e.hc.Do(req)
	if err != nil {
		return fmt.Errorf("reset stats: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("reset stats: HTTP %d", resp.StatusCode)
	}
	return nil
}

// stats reads b2emu's transaction counters by class and by call.
func (e *emulator) stats(ctx context.Context) (calls, map[string]int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.url+"/b2emu/stats", nil)
	if err != nil {
		return calls{}, nil, err
	}
	resp, err := e.hc.Do(req)
	if err != nil {
		return calls{}, nil, fmt.Errorf("read stats: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return calls{}, nil, fmt.Errorf("read stats: HTTP %d", resp.StatusCode)
	}
	var st struct {
		Calls   map[string]int64 `json:"calls"`
		Classes map[string]int64 `json:"classes"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&st); err != nil {
		return calls{}, nil, fmt.Errorf("read stats: %w", err)
	}
	if st.Classes == nil {
		return calls{}, nil, errors.New("read stats: no classes in answer")
	}
	return calls{st.Classes["A"], st.Classes["B"], st.Classes["C"]}, st.Calls, nil
}
