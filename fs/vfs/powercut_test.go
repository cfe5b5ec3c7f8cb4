package vfs

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/b2fs/b2fs/cache"
	"github.com/b2fs/b2fs/fs/fstest"
	"github.com/b2fs/b2fs/fs/staging"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// fataler is what testing.T and rapid.T have in common here.
type fataler interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// lossyMount is a write-back filesystem whose staging directory lives on
// a LossyFS.
type lossyMount struct {
	fsys *FS
	sm   *staging.Manager
	c    *cache.Cache // the metadata cache (close it in loops)
}

func newLossyMount(t fataler, st *fstest.Store, dir string, lfs *fstest.LossyFS, delay time.Duration) lossyMount {
	return newLossyMountClock(t, st, dir, lfs, delay, nil)
}

// newLossyMountClock is newLossyMount whose metadata cache reads the time
// from now (nil: time.Now).
func newLossyMountClock(t fataler, st *fstest.Store, dir string, lfs *fstest.LossyFS, delay time.Duration, now func() time.Time) lossyMount {
	c, err := cache.New(cache.Options{DirTTL: time.Minute, AttrTTL: time.Minute, NegativeTTL: time.Minute, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	sm, err := staging.New(staging.Options{Dir: dir, Remote: st, PartSize: 1 << 16, UploadCutoff: 1 << 17, FS: lfs, Logger: quiet,
		WriteBack: true, WriteBackDelay: delay, Transfers: 3, Current: st.Current})
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := New(Options{Backend: st, Cache: c, Bucket: Bucket{ID: "b1", Name: "alpha"},
		Write: WriteOptions{Staging: sm, Backend: st}})
	if err != nil {
		t.Fatal(err)
	}
	return lossyMount{fsys, sm, c}
}

// rebootedState starts a new Manager over what survived a power cut of
// the staging directory dir (lfs2, see LossyFS.PowerCut), lets it recover
// and upload what it finds, and returns what B2 then holds.
func rebootedState(t fataler, st *fstest.Store, dir string, lfs2 *fstest.LossyFS) map[string]fileState {
	ctx := context.Background()
	m2 := newLossyMount(t, st, dir, lfs2, time.Hour)
	defer m2.c.Close()
	defer m2.fsys.Shutdown(ctx)
	defer m2.sm.Close(ctx)
	if _, err := m2.sm.Recover(ctx, st.Current); err != nil {
		t.Fatal(err)
	}
	if err := m2.sm.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	return b2State(t, st)
}

// fileState is what a name shows: its bytes, permission bits and mtime.
type fileState struct {
	data  string
	mode  uint32
	mtime time.Time
}

func (s fileState) String() string {
	return fmt.Sprintf("%q mode %o mtime %d", s.data, s.mode, s.mtime.UnixMilli())
}

// b2State reads every file of the bucket through a fresh filesystem
// without write-back: what B2 holds, as the mount would show it.
func b2State(t fataler, st *fstest.Store) map[string]fileState {
	c, err := cache.New(cache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fsys, err := New(Options{Backend: st, Cache: c, Bucket: Bucket{ID: "b1", Name: "alpha"}})
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Shutdown(context.Background())
	out := map[string]fileState{}
	ctx := context.Background()
	var walk func(d *Dir, prefix string)
	walk = func(d *Dir, prefix string) {
		h := d.Opendir()
		for {
			de, err := h.Readdirent(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if de == nil {
				return
			}
			if de.Name == "." || de.Name == ".." {
				continue
			}
			n, err := d.Lookup(ctx, de.Name)
			if err != nil {
				t.Fatal(err)
			}
			switch n := n.(type) {
			case *Dir:
				walk(n, prefix+de.Name+"/")
			case *File:
				a := n.Attr(ctx, nil)
				out[prefix+de.Name] = fileState{readFileVFS(t, d, de.Name), a.Mode & 0o7777, a.Mtime}
			}
		}
	}
	walk(fsys.Root().(*Dir), "")
	return out
}

// TestWriteBackPowerCut runs random sequences of creates, rewrites,
// renames (over existing names too, and across directories), unlinks,
// chmods and syncs through a write-back filesystem whose staging directory forgets
// whatever was not fsynced, cuts the power at a random point (possibly in
// the middle of an operation), recovers from what survived with a new
// Manager, syncs, and checks that B2 holds exactly what every operation
// that returned before the cut left (bytes, mode, mtime); the operation
// cut in the middle left either its before or its after state, never
// partial content.
func TestWriteBackPowerCut(t *testing.T) {
	names := []string{"a", "b", ".c.XyZ123", "d/e", "d/f"}
	rapid.Check(t, func(rt *rapid.T) {
		ctx := context.Background()
		st := newStore()
		base, err := os.MkdirTemp("", "b2fs-powercut-")
		if err != nil {
			rt.Fatal(err)
		}
		defer os.RemoveAll(base)
		dir := filepath.Join(base, "staging")
		lfs, err := fstest.NewLossyFS(dir)
		if err != nil {
			rt.Fatal(err)
		}
		delay := rapid.SampledFrom([]time.Duration{time.Millisecond, 20 * time.Millisecond, time.Hour}).Draw(rt, "delay")
		m := newLossyMount(rt, st, dir, lfs, delay)
		root := m.fsys.Root().(*Dir)
		d, err := root.Mkdir(ctx, "d", 0o755)
		if err != nil {
			rt.Fatal(err)
		}
		dirOf := func(name string) (*Dir, string) {
			if len(name) > 2 && name[:2] == "d/" {
				return d, name[2:]
			}
			return root, name
		}
		model := map[string]fileState{}
		step := 0
		// do runs one operation; intent applies its effect to a model
		// (an mtime not known because the operation failed is zero,
		// matching any).
		do := func(ctx context.Context, rt *rapid.T) (intent func(map[string]fileState), err error) {
			step++
			op := rapid.SampledFrom([]string{"write", "write", "rename", "unlink", "chmod", "sync", "pause"}).Draw(rt, "op")
			defer func() {
				if err != nil {
					err = fmt.Errorf("%s: %w", op, err)
				}
			}()
			switch op {
			case "write":
				name := rapid.SampledFrom(names).Draw(rt, "name")
				data := fmt.Sprintf("%s@%d:%s", name, step, rapid.StringMatching(`[a-z]{0,40}`).Draw(rt, "data"))
				mode := rapid.SampledFrom([]uint32{0o600, 0o644, 0o755}).Draw(rt, "mode")
				s := fileState{data: data, mode: mode}
				intent = func(m map[string]fileState) {
					if old, ok := m[name]; ok {
						s.mode = old.mode // open(2)'s mode applies only to a new file
					}
					m[name] = s
				}
				pd, pn := dirOf(name)
				f, h, err := pd.Create(ctx, pn, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_TRUNC, mode)
				if err != nil {
					return intent, err
				}
				defer h.Release(ctx)
				if _, err := h.Write(ctx, []byte(data), 0); err != nil {
					return intent, err
				}
				if err := h.Flush(ctx); err != nil {
					return intent, err
				}
				s.mtime = f.Attr(ctx, h).Mtime
				return intent, nil
			case "rename":
				from := rapid.SampledFrom(names).Draw(rt, "from")
				to := rapid.SampledFrom(names).Draw(rt, "to")
				if _, ok := model[from]; !ok || from == to {
					return func(map[string]fileState) {}, nil
				}
				intent = func(m map[string]fileState) { m[to] = m[from]; delete(m, from) }
				sd, sn := dirOf(from)
				dd, dn := dirOf(to)
				return intent, sd.Rename(ctx, sn, dd, dn, 0)
			case "unlink":
				name := rapid.SampledFrom(names).Draw(rt, "name")
				if _, ok := model[name]; !ok {
					return func(map[string]fileState) {}, nil
				}
				pd, pn := dirOf(name)
				return func(m map[string]fileState) { delete(m, name) }, pd.Unlink(ctx, pn)
			case "chmod":
				name := rapid.SampledFrom(names).Draw(rt, "name")
				mode := rapid.SampledFrom([]uint32{0o600, 0o640, 0o755}).Draw(rt, "mode")
				if _, ok := model[name]; !ok {
					return func(map[string]fileState) {}, nil
				}
				intent = func(m map[string]fileState) {
					s := m[name]
					s.mode = mode
					m[name] = s
				}
				pd, pn := dirOf(name)
				node, err := pd.Lookup(ctx, pn)
				if err != nil {
					return intent, err
				}
				_, err = node.(*File).Setattr(ctx, nil, &SetAttr{Mode: &mode})
				return intent, err
			case "sync":
				return func(map[string]fileState) {}, m.fsys.Sync(ctx)
			default:
				time.Sleep(time.Duration(rapid.IntRange(0, 30).Draw(rt, "ms")) * time.Millisecond)
				return func(map[string]fileState) {}, nil
			}
		}
		n := rapid.IntRange(0, 25).Draw(rt, "steps")
		for i := 0; i < n; i++ {
			intent, err := do(ctx, rt)
			if err != nil {
				rt.Fatalf("step %d: %v", i, err)
			}
			intent(model)
		}
		// The last operation runs while the power goes.
		before := copyModel(model)
		var intent func(map[string]fileState)
		done := make(chan struct{})
		cutAfter := time.Duration(rapid.IntRange(0, 3000).Draw(rt, "cut_us")) * time.Microsecond
		lastCtx, stop := context.WithCancel(ctx)
		go func() {
			defer close(done)
			intent, _ = do(lastCtx, rt)
		}()
		time.Sleep(cutAfter)
		// The process dies (its background work stops at once; what the
		// last operation waits for never comes) and the power goes.
		m.sm.Abandon()
		lfs2, err := lfs.PowerCut()
		if err != nil {
			rt.Fatal(err)
		}
		stop()
		<-done
		m.fsys.Shutdown(ctx)
		after := copyModel(model)
		intent(after)

		// Reboot: a new Manager recovers what survived and uploads it.
		got := rebootedState(rt, st, dir, lfs2)
		if !sameModel(got, before) && !sameModel(got, after) {
			rt.Fatalf("B2 after recovery:\n%s\nwant (before the last operation):\n%s\nor (after it):\n%s", dump(got), dump(before), dump(after))
		}
	})
}

func copyModel(m map[string]fileState) map[string]fileState {
	out := make(map[string]fileState, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func sameModel(a, b map[string]fileState) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || w.data != v.data || w.mode != v.mode || (!w.mtime.IsZero() && !w.mtime.Equal(v.mtime)) {
			return false
		}
	}
	return true
}

func dump(m map[string]fileState) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	s := ""
	for _, k := range ks {
		s += "  " + k + ": " + m[k].String() + "\n"
	}
	return s
}

// removeGate is a WriteBackend whose removals of one name (hide, delete)
// wait until the caller gives up, after announcing themselves.
type removeGate struct {
	*fstest.Store
	name    string
	removal chan struct{}
}

func (g *removeGate) hold(ctx context.Context, name string) bool {
	if name != g.name {
		return false
	}
	select {
	case g.removal <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return true
}

func (g *removeGate) Hide(ctx context.Context, b Bucket, name string) error {
	if g.hold(ctx, name) {
		return ctx.Err()
	}
	return g.Store.Hide(ctx, b, name)
}

func (g *removeGate) DeleteVersion(ctx context.Context, b Bucket, name, fileID string) error {
	if g.hold(ctx, name) {
		return ctx.Err()
	}
	return g.Store.DeleteVersion(ctx, b, name, fileID)
}

// TestWriteBackRenamePowerCutAfterCopy: a rename done in B2 (copy, then
// remove the source) in write-back mode, cut by a power cut after the
// copy, is finished at the next start: B2 shows the state after the
// rename, not both names.
func TestWriteBackRenamePowerCutAfterCopy(t *testing.T) {
	ctx := context.Background()
	st := newStore()
	dir := filepath.Join(t.TempDir(), "staging")
	lfs, err := fstest.NewLossyFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	c, err := cache.New(cache.Options{DirTTL: time.Minute, AttrTTL: time.Minute, NegativeTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sm, err := staging.New(staging.Options{Dir: dir, Remote: st, PartSize: 1 << 16, UploadCutoff: 1 << 17, FS: lfs, Logger: quiet,
		WriteBack: true, WriteBackDelay: time.Hour, Current: st.Current})
	if err != nil {
		t.Fatal(err)
	}
	g := &removeGate{Store: st, name: "a", removal: make(chan struct{}, 1)}
	fsys, err := New(Options{Backend: st, Cache: c, Bucket: Bucket{ID: "b1", Name: "alpha"},
		Write: WriteOptions{Staging: sm, Backend: g}})
	if err != nil {
		t.Fatal(err)
	}
	root := fsys.Root().(*Dir)
	writeFile(t, root, "a", "content of a")
	writeFile(t, root, "b", "content of b")
	if err := fsys.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	want := b2State(t, st)
	want["b"] = want["a"]
	delete(want, "a")

	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- root.Rename(rctx, "a", root, "b", 0) }()
	select {
	case <-g.removal:
	case <-time.After(20 * time.Second):
		t.Fatal("the rename did not reach the removal of its source")
	}
	// Copied, the source not yet removed: the process dies, the power goes.
	sm.Abandon()
	lfs2, err := lfs.PowerCut()
	if err != nil {
		t.Fatal(err)
	}
	stop()
	<-done
	fsys.Shutdown(ctx)

	if got := rebootedState(t, st, dir, lfs2); !sameModel(got, want) {
		t.Fatalf("B2 after recovery:\n%s\nwant (the rename finished):\n%s", dump(got), dump(want))
	}
}

// TestWriteBackUnlinkDuringUploadPowerCut: an unlink that returned while
// the file's background upload ended (which then removes the staged file)
// stays done after a power cut: the file's manifest is emptied durably,
// whichever of the two removes the file, and recovery does not upload it
// again. The unlink falls at random moments around the upload.
func TestWriteBackUnlinkDuringUploadPowerCut(t *testing.T) {
	for i := 0; i < 60; i++ {
		ctx := context.Background()
		st := newStore()
		dir := filepath.Join(t.TempDir(), "staging")
		lfs, err := fstest.NewLossyFS(dir)
		if err != nil {
			t.Fatal(err)
		}
		m := newLossyMount(t, st, dir, lfs, time.Millisecond)
		root := m.fsys.Root().(*Dir)
		writeFile(t, root, "a", "aa")
		writeFile(t, root, "c", "cc")
		time.Sleep(time.Duration(rand.Intn(3000)) * time.Microsecond)
		if err := root.Unlink(ctx, "c"); err != nil {
			t.Fatal(err)
		}
		if got := b2State(t, st); got["c"].data != "" {
			t.Fatalf("round %d: B2 shows c right after its unlink:\n%s", i, dump(got))
		}
		m.sm.Abandon()
		lfs2, err := lfs.PowerCut()
		if err != nil {
			t.Fatal(err)
		}
		m.fsys.Shutdown(ctx)
		m.c.Close()
		got := rebootedState(t, st, dir, lfs2)
		if _, ok := got["c"]; ok {
			t.Fatalf("round %d: the unlinked c is back after the power cut:\n%s", i, dump(got))
		}
	}
}
