package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// The reread workload: the big file read once through a mount, the tool
// restarted with the same cache directory, the page cache dropped (echo 3
// > /proc/sys/vm/drop_caches after a sync), and the file read again: that second read
// is measured. Its limit is the same bytes read from a file on the local
// disk the work directory is on, after dropping the page cache as well.

// targetRereadOfDisk is b2fs's target on the row (besides B=0 and the
// RSS bound of every row).
const targetRereadOfDisk = 0.8

// dropCaches writes dirty data back (sync) and drops the page cache.
func dropCaches() error {
	syscall.Sync()
	if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("3\n"), 0o200); err != nil {
		return fmt.Errorf("drop the page cache (needs root): %w", err)
	}
	return nil
}

// readChecked reads the file at path to its end, checking the pattern,
// and returns the bytes read and the seconds it took.
func (r *runner) readChecked(path string) (int64, float64, error) {
	t0 := time.Now()
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	buf := make([]byte, blockSize)
	scratch := make([]byte, blockSize)
	var n int64
	for blk := int64(0); ; blk++ {
		k, err := io.ReadFull(f, buf)
		if k > 0 && (blk%8 == 0 || int64(k) < blockSize) && !r.pat.check(buf[:k], n, scratch) {
			return n, 0, fmt.Errorf("wrong data in block %d", blk)
		}
		n += int64(k)
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return n, 0, err
		}
	}
	secs := time.Since(t0).Seconds()
	if n != r.pat.size {
		return n, secs, fmt.Errorf("read %d bytes, want %d", n, r.pat.size)
	}
	return n, secs, nil
}

// rereadRounds is how many times the re-read (and the local read) is
// measured; the median counts.
const rereadRounds = 3

// medianRun returns the run with the median value of those that
// succeeded (the better of the two middle ones), noting the spread, or
// the first failure when none did.
func medianRun(rs []*result, higher bool) *result {
	if len(rs) == 1 {
		return rs[0]
	}
	var ok []*result
	for _, r := range rs {
		if r.ok() {
			ok = append(ok, r)
		}
	}
	if len(ok) == 0 {
		return rs[0]
	}
	sort.Slice(ok, func(i, j int) bool { return ok[i].value < ok[j].value })
	m := ok[(len(ok)-1)/2]
	if higher {
		m = ok[len(ok)/2]
	}
	out := *m
	spread := fmt.Sprintf("median of %d runs (%.4g to %.4g)", len(ok), ok[0].value, ok[len(ok)-1].value)
	if len(ok) < len(rs) {
		spread += fmt.Sprintf(", %d failed: %s", len(rs)-len(ok), firstErr(rs))
	}
	out.note = strings.TrimSpace(spread + "; " + out.note)
	out.note = strings.TrimSuffix(out.note, ";")
	return &out
}

func firstErr(rs []*result) string {
	for _, r := range rs {
		if !r.ok() {
			return r.err
		}
	}
	return ""
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func (r *runner) reread(ctx context.Context, m *mount) ([]*result, error) {
	path := filepath.Join(m.dir, bigName)
	if err := guard(ctx, m, func() error { _, _, err := r.readChecked(path); return err }); err != nil {
		return nil, fmt.Errorf("first read: %w", err)
	}
	var all []float64
	for i := 0; i < rereadRounds; i++ {
		if err := r.ms.restart(ctx, r.env, m); err != nil {
			return nil, fmt.Errorf("restart: %w", err)
		}
		if err := dropCaches(); err != nil {
			return nil, err
		}
		if i == 0 {
			// Calls are counted over every round.
			if err := r.prepare(ctx, m, filepath.Dir(bigName)); err != nil {
				return nil, err
			}
		}
		var secs float64
		err := guard(ctx, m, func() (err error) { _, secs, err = r.readChecked(path); return err })
		if err != nil {
			return nil, err
		}
		all = append(all, secs)
	}
	secs := median(all)
	return []*result{{value: mib(r.pat.size) / secs, secs: secs, note: fmt.Sprintf("median of %d re-reads, each after a restart", rereadRounds)}}, nil
}

// rereadLimit reads the same bytes from a local file, page cache dropped.
func (r *runner) rereadLimit(ctx context.Context) []*result {
	path := filepath.Join(r.cfg.workDir, "local-big.bin")
	defer os.Remove(path)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return []*result{failed(err)}
	}
	_, err = io.Copy(f, io.NewSectionReader(r.pat, 0, r.pat.size))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = dropCaches()
	}
	if err != nil {
		return []*result{failed(err)}
	}
	var all []float64
	for i := 0; i < rereadRounds; i++ {
		if i > 0 {
			if err := dropCaches(); err != nil {
				return []*result{failed(err)}
			}
		}
		_, secs, err := r.readChecked(path)
		if err != nil {
			return []*result{failed(err)}
		}
		all = append(all, secs)
	}
	secs := median(all)
	return []*result{{value: mib(r.pat.size) / secs, secs: secs, note: fmt.Sprintf("local disk, median of %d", rereadRounds)}}
}
