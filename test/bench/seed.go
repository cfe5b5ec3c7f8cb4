package main

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/b2fs/b2fs/b2client"
	"golang.org/x/sync/errgroup"
)

// blockSize is the unit of the pattern: every block is the same random
// block with its index stamped at its start, so data is incompressible,
// position dependent and cheap to produce and to check.
const blockSize = 1 << 20

// pattern is the content of every big file the benchmark reads or writes.
type pattern struct {
	base []byte
	size int64
}

func newPattern(size int64) *pattern {
	rnd := rand.New(rand.NewPCG(42, 4242))
	b := make([]byte, blockSize)
	for i := 0; i < len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], rnd.Uint64())
	}
	return &pattern{base: b, size: size}
}

// ReadAt implements io.ReaderAt.
func (p *pattern) ReadAt(b []byte, off int64) (int, error) {
	if off >= p.size {
		return 0, io.EOF
	}
	n := 0
	for n < len(b) && off < p.size {
		blk := off / blockSize
		in := off % blockSize
		m := copy(b[n:], p.base[in:min(int64(blockSize), in+p.size-off)])
		stampBlock(b[n:n+m], blk, in)
		n += m
		off += int64(m)
	}
	if n < len(b) {
		return n, io.EOF
	}
	return n, nil
}

// stampBlock overwrites the first 8 bytes of a block (those inside b, which
// holds the block's bytes from offset in) with the block index.
func stampBlock(b []byte, blk, in int64) {
	if in >= 8 {
		return
	}
	var st [8]byte
	binary.LittleEndian.PutUint64(st[:], uint64(blk))
	copy(b, st[in:])
}

// check reports whether b holds the pattern's bytes at off.
func (p *pattern) check(b []byte, off int64, scratch []byte) bool {
	if len(scratch) < len(b) {
		scratch = make([]byte, len(b))
	}
	n, _ := p.ReadAt(scratch[:len(b)], off)
	return n == len(b) && bytes.Equal(scratch[:n], b)
}

// sha1Hex returns the SHA-1 of the whole pattern.
func (p *pattern) sha1Hex() (string, error) {
	h := sha1.New()
	if _, err := io.Copy(h, io.NewSectionReader(p, 0, p.size)); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Names of the seeded data inside the bucket.
const (
	bigName    = "seq/big.bin"
	listPrefix = "ls/"
	treePrefix = "tree/"
)

func listName(i int) string { return fmt.Sprintf("%sf%06d.txt", listPrefix, i) }

func treeName(dirs, i int) string {
	return fmt.Sprintf("%sd%03d/f%05d.txt", treePrefix, i%dirs, i)
}

// smallBody is the content of the i-th small seeded or created file.
func smallBody(i int, size int) []byte {
	b := make([]byte, size)
	s := fmt.Sprintf("file %d\n", i)
	for j := range b {
		b[j] = s[j%len(s)]
	}
	return b
}

// seed uploads the read-only data through the API: the big file as a large
// file and the listing and tree files with many uploads at once.
func seed(ctx context.Context, c *b2client.Client, bucketID string, cfg *config, pat *pattern, logf func(string, ...any)) error {
	t0 := time.Now()
	sum, err := pat.sha1Hex()
	if err != nil {
		return err
	}
	if _, err := c.UploadLargeFile(ctx, b2client.UploadRequest{BucketID: bucketID, Name: bigName, SHA1: sum, ContentType: "application/octet-stream"},
		pat, pat.size, b2client.LargeFileOptions{Concurrency: 4}); err != nil {
		return fmt.Errorf("seed %s: %w", bigName, err)
	}
	logf("seeded %s (%d bytes) in %v", bigName, pat.size, time.Since(t0).Round(time.Millisecond))
	t0 = time.Now()
	var names []string
	for i := 0; i < cfg.listFiles; i++ {
		names = append(names, listName(i))
	}
	for i := 0; i < cfg.treeFiles; i++ {
		names = append(names, treeName(cfg.treeDirs, i))
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(32)
	var done atomic.Int64
	mod := time.UnixMilli(1_700_000_000_000)
	for i, n := range names {
		g.Go(func() error {
			body := smallBody(i, 64+i%200)
			_, err := c.UploadFile(gctx, b2client.UploadRequest{BucketID: bucketID, Name: n, ContentType: "text/plain", ModTime: mod},
				bytes.NewReader(body), int64(len(body)))
			if err != nil {
				return fmt.Errorf("seed %s: %w", n, err)
			}
			done.Add(1)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	logf("seeded %d small files in %v", done.Load(), time.Since(t0).Round(time.Millisecond))
	return nil
}

// makeSmallTree writes the local source tree of the small-files workload:
// n files spread over up to 10 directories, 1 to 8 KiB each.
func makeSmallTree(dir string, n int) error {
	dirs := min(10, max(1, n/100))
	for i := 0; i < n; i++ {
		d := filepath.Join(dir, fmt.Sprintf("d%02d", i%dirs))
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		body := smallBody(i, 1024+(i*977)%(7*1024))
		if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("f%05d.dat", i)), body, 0o644); err != nil {
			return err
		}
	}
	return nil
}
