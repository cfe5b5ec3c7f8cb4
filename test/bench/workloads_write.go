package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/b2fs/b2fs/b2client"
)

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
