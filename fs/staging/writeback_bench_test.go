package staging

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// syncCounter is OSFS counting fsyncs.
type syncCounter struct {
	OSFS
	files, dirs *atomic.Int64
}

type countedFile struct {
	FSFile
	n *atomic.Int64
}

func (c syncCounter) OpenFile(name string, flag int, perm os.FileMode) (FSFile, error) {
	f, err := c.OSFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return countedFile{f, c.files}, nil
}

func (c syncCounter) SyncDir(name string) error {
	c.dirs.Add(1)
	return c.OSFS.SyncDir(name)
}

func (f countedFile) Sync() error {
	f.n.Add(1)
	return f.FSFile.Sync()
}

// BenchmarkWriteBackClose creates 4 KiB files one after another in
// write-back mode (cp -r of small files): the time of a close is that of
// its fsyncs, reported per file. Uploads (to a remote that stores
// nothing) run in the background 50ms after each close, and the files
// are let go, as during a long cp -r.
func BenchmarkWriteBackClose(b *testing.B) {
	var files, dirs atomic.Int64
	m, err := New(Options{
		Dir: filepath.Join(b.TempDir(), "staging"), Remote: &benchRemote{}, PartSize: 8 << 20, UploadCutoff: 16 << 20,
		Logger: slog.New(slog.DiscardHandler), FS: syncCounter{files: &files, dirs: &dirs},
		WriteBack: true, WriteBackDelay: 50 * time.Millisecond,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = m.Close(context.Background()) })
	time.Sleep(100 * time.Millisecond) // the pool fills, as it does right after a mount
	buf := make([]byte, 4096)
	ctx := context.Background()
	files.Store(0)
	dirs.Store(0)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f, err := m.Open(ctx, OpenOptions{Key: Key{BucketID: "b", BucketName: "b", Name: fmt.Sprintf("small/f%07d", i)}, Write: true})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.WriteAt(ctx, buf, 0); err != nil {
			b.Fatal(err)
		}
		if err := f.Commit(ctx); err != nil {
			b.Fatal(err)
		}
		m.ReleaseWrite(f)
	}
	b.StopTimer()
	b.ReportMetric(float64(files.Load())/float64(b.N), "file-fsyncs/op")
	b.ReportMetric(float64(dirs.Load())/float64(b.N), "dir-fsyncs/op")
}
