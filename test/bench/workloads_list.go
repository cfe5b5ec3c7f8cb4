package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/b2fs/b2fs/b2client"
)

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
