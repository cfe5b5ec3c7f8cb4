package e2e

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestPassthroughOpenModes opens one file in every way while it is open
// for FUSE passthrough reading. The kernel fails an open with EIO when
// the inode has open files of the other mode (passthrough versus page
// cache or direct I/O); b2fs must never answer an open that way.
func TestPassthroughOpenModes(t *testing.T) {
	w := newWriteEnv(t) // --passthrough is on by default
	mnt := w.m.Dir
	fn := filepath.Join(mnt, "f")
	first := bytes.Repeat([]byte("0123456789abcdef"), 4096)
	if err := os.WriteFile(fn, first, 0o644); err != nil {
		t.Fatal(err)
	}
	w.wantRemote(t, "f", first)
	// Read it once so that the whole version is in the read cache: the
	// next read-only open is a passthrough open.
	if got, err := os.ReadFile(fn); err != nil || !bytes.Equal(got, first) {
		t.Fatalf("read back: %d bytes, %v", len(got), err)
	}
	waitRecorded(t, w.cache, 1)

	// A writer opens the file while a reader holds it open: the writer
	// waits for the reader to close instead of failing.
	r, err := os.Open(fn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Read(make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	wrote := make(chan error, 1)
	go func() {
		f, err := os.OpenFile(fn, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			wrote <- fmt.Errorf("open for writing while open for reading: %w", err)
			return
		}
		_, err = f.Write([]byte("0123456789abcdef"))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		wrote <- err
	}()
	time.Sleep(300 * time.Millisecond)
	// Another reader of the same version meanwhile.
	if got, err := os.ReadFile(fn); err != nil || !bytes.Equal(got[:len(first)], first) {
		t.Errorf("second reader: %d bytes, %v", len(got), err)
	}
	r.Close()
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}

	// Writes, reads and read-writes of the file from several goroutines.
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 12; i++ {
				if err := openModesStep(fn, g, i); err != nil {
					errs <- fmt.Errorf("goroutine %d step %d: %w", g, i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	got, err := os.ReadFile(fn)
	if err != nil || len(got)%16 != 0 {
		t.Fatalf("final read: %d bytes, %v", len(got), err)
	}
	w.wantRemote(t, "f", got)
}

// openModesStep does step i of goroutine g: a whole-file write, a read, a
// read with a second reader, or a read-write. Every content written is
// made of 16-byte records.
func openModesStep(fn string, g, i int) error {
	rec := []byte(fmt.Sprintf("g%d-i%03d-records\n", g, i))
	switch (g + i) % 4 {
	case 0:
		return os.WriteFile(fn, bytes.Repeat(rec, 1000), 0o644)
	case 1, 2:
		a, err := os.Open(fn)
		if err != nil {
			return err
		}
		defer a.Close()
		if (g+i)%4 == 2 {
			b, err := os.Open(fn)
			if err != nil {
				return fmt.Errorf("second open: %w", err)
			}
			defer b.Close()
			if _, err := io.ReadAll(b); err != nil {
				return err
			}
		}
		got, err := io.ReadAll(a)
		if err != nil {
			return err
		}
		if len(got)%16 != 0 {
			return fmt.Errorf("read %d bytes, not whole records", len(got))
		}
		return nil
	default:
		f, err := os.OpenFile(fn, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		if _, err := io.ReadAll(f); err != nil {
			f.Close()
			return err
		}
		if _, err := f.WriteAt(rec, 0); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
}

// TestPassthroughNewVersionWhileRead writes a new version of a file while a
// read-only descriptor opened on the closed file is still open: stat and
// a new open must show the new version at once, and after the reader is
// closed, with passthrough on and off. (go-fuse answers a stat of a path
// through any open handle of the inode; the reader's version used to pass
// for the file's, and the kernel kept that size.)
func TestPassthroughNewVersionWhileRead(t *testing.T) {
	for _, pt := range []string{"true", "false"} {
		t.Run("passthrough="+pt, func(t *testing.T) {
			w := newWriteEnv(t, "--passthrough="+pt)
			mnt := w.m.Dir
			// "empty": created through the mount, empty (no passthrough
			// open of it); "remote": in B2 only, not in the read cache.
			put(t, w.ts, "wbucket", "remote", bytes.Repeat([]byte("old version\n"), 500), nil)
			if err := os.WriteFile(filepath.Join(mnt, "empty"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			for i, name := range []string{"empty", "remote"} {
				fn := filepath.Join(mnt, name)
				r, err := os.Open(fn)
				if err != nil {
					t.Fatal(err)
				}
				want := bytes.Repeat([]byte(fmt.Sprintf("new version %d of %s\n", i, name)), 81+i*3000)
				if err := os.WriteFile(fn, want, 0o644); err != nil {
					r.Close()
					t.Fatalf("write %s while a reader is open: %v", name, err)
				}
				check := func(when string) {
					t.Helper()
					if st, err := os.Stat(fn); err != nil || st.Size() != int64(len(want)) {
						t.Errorf("%s %s: stat size %v (%v), want %d", name, when, sizeOf(st), err, len(want))
					}
					if got, err := os.ReadFile(fn); err != nil || !bytes.Equal(got, want) {
						t.Errorf("%s %s: new open read %d bytes (%v), want the new %d", name, when, len(got), err, len(want))
					}
				}
				check("with the reader open")
				r.Close()
				check("after the reader closed")
				w.wantRemote(t, name, want)
			}
		})
	}
}

func sizeOf(st os.FileInfo) int64 {
	if st == nil {
		return -1
	}
	return st.Size()
}

// TestPassthroughReopenAfterWrite writes files and opens them for reading
// right after the writer's close, in a loop (the new version is adopted
// into the read cache while the reader may already download it): every
// open and read must succeed with the new content, and no cached block may
// fail verification.
func TestPassthroughReopenAfterWrite(t *testing.T) {
	w := newWriteEnv(t) // --passthrough is on by default
	for i := range 300 {
		fn := filepath.Join(w.m.Dir, fmt.Sprintf("f%d", i%5))
		want := bytes.Repeat([]byte(fmt.Sprintf("%07d\n", i)), 512)
		fd, err := syscall.Open(fn, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_TRUNC, 0o644)
		if err == nil {
			_, err = syscall.Pwrite(fd, want, 0)
			if cerr := syscall.Close(fd); err == nil {
				err = cerr
			}
		}
		if err != nil {
			t.Fatalf("iteration %d: write: %v", i, err)
		}
		got := make([]byte, len(want)+1000)
		n := 0
		fd, err = syscall.Open(fn, syscall.O_RDONLY, 0)
		if err == nil {
			n, err = syscall.Pread(fd, got, 0)
			syscall.Close(fd)
		}
		if err != nil || !bytes.Equal(got[:max(n, 0)], want) {
			t.Fatalf("iteration %d: read back after close: %d bytes, %v", i, n, err)
		}
	}
	for _, l := range strings.Split(w.m.stderr.String(), "\n") {
		if strings.Contains(l, "failed verification") {
			t.Errorf("a cached block failed verification: %s", l)
		}
	}
}

// TestPassthroughModeSwitches switches files between passthrough and
// cached opens again and again: per file, a writer writes a new version
// every 2.5s while a reader reads it every 1.1s (with two descriptors open
// at once every other time), so that reads after a write are cached opens
// and later ones passthrough opens (b2fs makes none for a second after a
// cached handle's release), which writers then wait for. No open or read
// may fail (the kernel answers an open of the wrong I/O mode with EIO),
// and every read returns a whole written content.
func TestPassthroughModeSwitches(t *testing.T) {
	w := newWriteEnv(t, "--metrics-addr", "127.0.0.1:0") // --passthrough is on by default
	const files = 2
	content := func(f, i int) []byte { return bytes.Repeat([]byte(fmt.Sprintf("f%d-i%05d-content\n", f, i)), 300) }
	deadline := time.Now().Add(15 * time.Second)
	var wg sync.WaitGroup
	errs := make(chan error, 2*files)
	for f := range files {
		fn := filepath.Join(w.m.Dir, fmt.Sprintf("m%d", f))
		if err := os.WriteFile(fn, content(f, 0), 0o644); err != nil {
			t.Fatal(err)
		}
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := 1; time.Now().Before(deadline); i++ {
				time.Sleep(2500 * time.Millisecond)
				if err := os.WriteFile(fn, content(f, i), 0o644); err != nil {
					errs <- fmt.Errorf("writer of m%d, version %d: %w", f, i, err)
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline); i++ {
				if err := readWhole(fn, i%2 == 1); err != nil {
					errs <- fmt.Errorf("reader of m%d, read %d: %w", f, i, err)
					return
				}
				time.Sleep(1100 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := scrapeMetric(t, w.m, "b2fs_read_cache_file_opens_total"); n == 0 {
		t.Error("no open was served whole from the read cache: the test switches no file to passthrough")
	}
}

// readWhole reads fn (with two descriptors open at once when two) and
// checks that it holds one whole content written by
// TestPassthroughModeSwitches.
func readWhole(fn string, two bool) error {
	a, err := os.Open(fn)
	if err != nil {
		return err
	}
	defer a.Close()
	if two {
		b, err := os.Open(fn)
		if err != nil {
			return fmt.Errorf("second open: %w", err)
		}
		defer b.Close()
	}
	got, err := io.ReadAll(a)
	if err != nil {
		return err
	}
	if len(got) != 18*300 || !bytes.Equal(got, bytes.Repeat(got[:18], 300)) {
		return fmt.Errorf("read %d bytes, not one whole content", len(got))
	}
	return nil
}

// TestPassthroughOpenAfterMetadataCopy opens a file while a passthrough
// reader holds it open and a chmod has meanwhile made a new version of it
// in B2 (a metadata copy, same content, new file ID): the open joins the
// reader's passthrough handle at once instead of waiting for it to close
// (it used to fail with ETXTBSY after 5s), both read the content, and a
// writer still waits for the readers.
func TestPassthroughOpenAfterMetadataCopy(t *testing.T) {
	w := newWriteEnv(t, "--metadata-delay", "0") // --passthrough is on by default
	fn := filepath.Join(w.m.Dir, "f")
	want := bytes.Repeat([]byte("metadata copy\n"), 5000)
	if err := os.WriteFile(fn, want, 0o644); err != nil {
		t.Fatal(err)
	}
	before := w.wantRemote(t, "f", want)
	if got, err := os.ReadFile(fn); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read back: %d bytes, %v", len(got), err)
	}
	waitRecorded(t, w.cache, 1)

	r, err := os.Open(fn) // a passthrough open: the whole version is cached
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := os.Chmod(fn, 0o600); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if f, _ := w.remote(t, "f"); f.ID != before.ID {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the chmod made no new version in B2")
		}
		time.Sleep(50 * time.Millisecond)
	}

	start := time.Now()
	r2, err := os.Open(fn)
	if err != nil {
		t.Fatalf("open after the chmod while a reader is open: %v (after %v)", err, time.Since(start))
	}
	defer r2.Close()
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("open after the chmod took %v: it waited for the reader", d)
	}
	for i, f := range []*os.File{r2, r} {
		got := make([]byte, len(want)+10)
		n, err := f.ReadAt(got, 0)
		if (err != nil && err != io.EOF) || !bytes.Equal(got[:n], want) {
			t.Errorf("reader %d: read %d bytes, %v", i, n, err)
		}
	}
	if st, err := r2.Stat(); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("stat of the new open: %v, %v; want mode 0600", st.Mode(), err)
	}

	// A writer still waits for the readers to close.
	opened := make(chan error, 1)
	go func() {
		f, err := os.OpenFile(fn, os.O_WRONLY|os.O_APPEND, 0)
		if err == nil {
			err = f.Close()
		}
		opened <- err
	}()
	select {
	case err := <-opened:
		t.Fatalf("a writer opened while passthrough readers were open: %v", err)
	case <-time.After(500 * time.Millisecond):
	}
	r.Close()
	r2.Close()
	if err := <-opened; err != nil {
		t.Fatalf("writer after the readers closed: %v", err)
	}
}
