package staging

import (
	"context"
	"math/rand"
	"os"
	"strings"
	"sync/atomic"
	"testing"
)

// readCountFS counts the bytes read back from staging data files.
type readCountFS struct {
	OSFS
	read *atomic.Int64
}

func (fs readCountFS) OpenFile(name string, flag int, perm os.FileMode) (FSFile, error) {
	f, err := fs.OSFS.OpenFile(name, flag, perm)
	if err != nil || !strings.HasSuffix(name, ".data") {
		return f, err
	}
	return readCountFile{FSFile: f, read: fs.read}, nil
}

type readCountFile struct {
	FSFile
	read *atomic.Int64
}

func (f readCountFile) ReadAt(p []byte, off int64) (int, error) {
	n, err := f.FSFile.ReadAt(p, off)
	f.read.Add(int64(n))
	return n, err
}

// open(O_TRUNC) of an existing file reaches b2fs as a truncation (uploaded
// on its own) and then an open of the now empty version. A sequential
// writer of that version gets its whole-file SHA-1 from the running hash,
// as a new file's writer does: the staging file is read once, to send the
// parts, not a second time to hash it.
func TestSequentialWriteOverEmptyVersionHashesWhileWritten(t *testing.T) {
	for _, tc := range []struct {
		name string
		base bool // open over an empty version (else a new file)
	}{{"new file", false}, {"empty version", true}} {
		t.Run(tc.name, func(t *testing.T) {
			var read atomic.Int64
			e := newEnv(t, envOptions{fs: readCountFS{read: &read}})
			ctx := context.Background()
			o := OpenOptions{Key: e.key("over.bin"), Write: true}
			if tc.base {
				o.Base = e.put("over.bin", nil)
			}
			f, err := e.m.Open(ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			defer e.m.ReleaseWrite(f)
			data := randBytes(rand.New(rand.NewSource(3)), 5*testPart+123)
			const chunk = 4096
			for off := 0; off < len(data); off += chunk {
				end := min(off+chunk, len(data))
				if _, err := f.WriteAt(ctx, data[off:end], int64(off)); err != nil {
					t.Fatal(err)
				}
			}
			if err := f.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			v := e.checkRemote("over.bin", data)
			if v.Info[InfoLargeFileSHA] != sum(data) {
				t.Errorf("large_file_sha1 %q, want %s", v.Info[InfoLargeFileSHA], sum(data))
			}
			// Each part is read once to be sent (a retried or re-sent
			// part more); a hashing pass would read every byte again.
			if got := read.Load(); got >= int64(len(data))*3/2 {
				t.Errorf("read %d bytes back from the staging file for %d written: hashed with a pass of its own", got, len(data))
			}
		})
	}
}
