package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The big-directory workload lists one directory of --big-dir-files names
// (100,000 by default). Uploading that many files through the API would
// take longer than the rest of the run, so they are written straight into
// b2emu's metadata journal (its on-disk state, see test/b2emu/journal.go)
// while b2emu is stopped: empty file versions, as a B2 upload of an empty
// file would leave them.

const bigDirPrefix = "bigdir/"

func bigDirName(i int) string { return fmt.Sprintf("%sf%07d.dat", bigDirPrefix, i) }

// The huge tree (workload find-huge, opt-in): --huge-files names in
// --huge-dirs directories, walked with find, to see where b2fs's memory
// stops growing.
const hugePrefix = "huge/"

func hugeName(dirs, i int) string {
	return fmt.Sprintf("%sd%05d/f%07d.dat", hugePrefix, i%dirs, i)
}

// Empty content's checksums, as B2 reports them.
const (
	emptySHA1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709"
	emptyMD5  = "d41d8cd98f00b204e9800998ecf8427e"
)

// journalFile is the part of a b2emu journal file record the seeding
// writes (field names as in test/b2emu's fileVersion).
type journalFile struct {
	ID          string            `json:"id"`
	Seq         uint64            `json:"seq"`
	BucketID    string            `json:"bucket"`
	Name        string            `json:"name"`
	Action      string            `json:"action"`
	ContentType string            `json:"ctype"`
	Size        int64             `json:"size"`
	SHA1        string            `json:"sha1"`
	MD5         string            `json:"md5"`
	Info        map[string]string `json:"info"`
	TS          int64             `json:"ts"`
}

type journalRecord struct {
	T      string          `json:"t"`
	Bucket json.RawMessage `json:"b,omitempty"`
	File   *journalFile    `json:"f,omitempty"`
}

// seedBigDir makes b2emu create its journal in dataDir (one start and
// stop), then appends n file records under bigDirPrefix for bucket.
func seedBigDir(ctx context.Context, cfg *config, dataDir, bucket, keyID, key string, logf func(string, ...any)) error {
	t0 := time.Now()
	emu, err := startEmulator(ctx, cfg.emuBin, dataDir, filepath.Join(cfg.workDir, "logs-b2emu.log"), profile{Name: "seed"}, keyID, key, bucket, emuStartWait(0))
	if err != nil {
		return err
	}
	emu.stop()
	journal := filepath.Join(dataDir, "journal.jsonl")
	if cfg.workloads[wBigCold] || cfg.workloads[wBigWarm] {
		if err := appendNames(journal, bucket, cfg.bigDirFiles, bigDirName, time.Now()); err != nil {
			return fmt.Errorf("seed %s: %w", bigDirPrefix, err)
		}
		logf("seeded %d names in %s through b2emu's journal", cfg.bigDirFiles, bigDirPrefix)
	}
	if cfg.workloads[wHuge] {
		name := func(i int) string { return hugeName(cfg.hugeDirs, i) }
		if err := appendNames(journal, bucket, cfg.hugeFiles, name, time.Now()); err != nil {
			return fmt.Errorf("seed %s: %w", hugePrefix, err)
		}
		logf("seeded %d names in %d directories of %s through b2emu's journal", cfg.hugeFiles, cfg.hugeDirs, hugePrefix)
	}
	logf("journal seeding took %v", time.Since(t0).Round(time.Millisecond))
	return nil
}

// appendBigDir appends n empty file versions under bigDirPrefix.
func appendBigDir(path, bucket string, n int, now time.Time) error {
	return appendNames(path, bucket, n, bigDirName, now)
}

// appendNames appends n empty file versions called name(0..n-1) to the
// journal at path, in name order. Their sequence numbers follow the
// journal's highest, so IDs b2emu makes later stay unique.
func appendNames(path, bucket string, n int, name func(int) string, now time.Time) error {
	bucketID, maxSeq, err := scanJournal(path, bucket)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	ms := now.UnixMilli()
	t := now.UTC()
	info := map[string]string{"src_last_modified_millis": "1700000000000"}
	enc := json.NewEncoder(w)
	for i := 0; i < n; i++ {
		seq := maxSeq + 1 + uint64(i)
		id := fmt.Sprintf("4_z%s_f%016x_d%s_m%s_c000_v0001000_t%04d_u%013d",
			bucketID, ^seq, t.Format("20060102"), t.Format("150405"), seq%10000, ms)
		rec := journalRecord{T: "file", File: &journalFile{ID: id, Seq: seq, BucketID: bucketID, Name: name(i),
			Action: "upload", ContentType: "application/octet-stream", SHA1: emptySHA1, MD5: emptyMD5, Info: info, TS: ms}}
		if err := enc.Encode(&rec); err != nil {
			f.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// scanJournal finds bucket's ID and the highest sequence number in a
// b2emu journal.
func scanJournal(path, bucket string) (bucketID string, maxSeq uint64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := sc.Bytes()
		switch {
		case strings.HasPrefix(string(line[:min(len(line), 16)]), `{"t":"bucket"`):
			var r struct {
				B struct{ ID, Name string } `json:"b"`
			}
			if err := json.Unmarshal(line, &r); err != nil {
				return "", 0, err
			}
			if r.B.Name == bucket {
				bucketID = r.B.ID
			}
		default:
			// Any record may carry a sequence number: files directly,
			// keys in their ID's last 11 digits (test/b2emu's apply).
			var r struct {
				F *struct{ Seq uint64 } `json:"f"`
				K *struct{ ID string }  `json:"k"`
			}
			if err := json.Unmarshal(line, &r); err != nil {
				continue // a torn last line
			}
			if r.F != nil {
				maxSeq = max(maxSeq, r.F.Seq)
			}
			if r.K != nil && len(r.K.ID) > 11 {
				if s, err := strconv.ParseUint(r.K.ID[len(r.K.ID)-11:], 10, 64); err == nil {
					maxSeq = max(maxSeq, s)
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		return "", 0, err
	}
	if bucketID == "" {
		return "", 0, errors.New("bucket " + bucket + " not in the journal")
	}
	return bucketID, maxSeq, nil
}

// bigDirColdWarm lists the big directory on a fresh mount, then again:
// time, calls and peak RSS of each.
func (r *runner) bigDirColdWarm(ctx context.Context, m *mount) ([]*result, error) {
	dir := strings.TrimSuffix(bigDirPrefix, "/")
	if err := r.prepare(ctx, m, dir); err != nil {
		return nil, err
	}
	cold, err := r.lsCount(ctx, m, dir, r.cfg.bigDirFiles)
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
	warm, err := r.lsCount(ctx, m, dir, r.cfg.bigDirFiles)
	if err != nil {
		return []*result{rc}, err
	}
	return []*result{rc, {value: warm, secs: warm}}, nil
}

// findHuge walks the huge tree with find on a fresh mount: time, calls
// and peak RSS.
func (r *runner) findHuge(ctx context.Context, m *mount) ([]*result, error) {
	dir := strings.TrimSuffix(hugePrefix, "/")
	if err := r.prepare(ctx, m, dir); err != nil {
		return nil, err
	}
	t0 := time.Now()
	cmd := exec.CommandContext(ctx, "find", filepath.Join(m.dir, dir), "-type", "f")
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	n := 0
	err = guard(ctx, m, func() error {
		if err := cmd.Start(); err != nil {
			return err
		}
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			n++
		}
		return cmd.Wait()
	})
	secs := time.Since(t0).Seconds()
	if err != nil {
		return nil, fmt.Errorf("find: %w", err)
	}
	if n != r.cfg.hugeFiles {
		return nil, fmt.Errorf("find listed %d files, want %d", n, r.cfg.hugeFiles)
	}
	res := &result{value: secs, secs: secs}
	if now, err := m.rss(); err == nil {
		res.note = fmt.Sprintf("RSS after the walk %.0f MiB", float64(now)/mibDiv)
	}
	return []*result{res}, nil
}
