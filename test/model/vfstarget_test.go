package model

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync"
	"time"

	"github.com/b2fs/b2fs/b2client"
	"github.com/b2fs/b2fs/cache"
	"github.com/b2fs/b2fs/fs/b2backend"
	"github.com/b2fs/b2fs/fs/fstest"
	"github.com/b2fs/b2fs/fs/readcache"
	"github.com/b2fs/b2fs/fs/staging"
	"github.com/b2fs/b2fs/fs/vfs"
)

// vfsTarget drives package vfs in the same process, without FUSE or the
// kernel: each call walks its path with the directories' lookups and does
// what the kernel does before a FUSE request reaches b2fs (the checks of
// namei and the VFS, O_TRUNC as a SETATTR after OPEN, the umask, EBADF for
// a handle's wrong access mode, EPERM for user xattrs on symbolic links),
// then calls vfs as the go-fuse adapter does. Errors become errno values
// through the adapter's own mapping (fs.Errno).
//
// Symbolic links resolve inside the filesystem; a target outside it (an
// absolute path, or ".." above the root) does not exist.
//
// The filesystem stands on the in-memory store of package fstest or on
// b2emu over HTTP through b2backend, with a staging directory and a read
// cache on local disk. Remount is a clean stop (StopWrites,
// FlushMetadata, staging Close, Shutdown) and a new vfs.FS over the same
// backend and directories; Crash abandons the filesystem (its background
// work is stopped, nothing is flushed, the staging manager is abandoned
// as a killed process leaves it) and the new one recovers the staging
// directory first, as cmd/b2fs does.
type vfsTarget struct {
	cfg   vfsConfig
	dir   string // staging and read-cache directories
	store *fstest.Store
	emu   *emu
	be    interface {
		vfs.Backend
		vfs.WriteBackend
		staging.Remote
	}
	current staging.CurrentFunc
	bucket  vfs.Bucket
	log     *tailLog
	logger  *slog.Logger

	inst *vfsInst
	// ctx is cancelled when a step hangs (stuck), so that the call
	// returns.
	ctx    context.Context
	cancel context.CancelFunc
}

// vfsConfig chooses the backend and the write path's options.
type vfsConfig struct {
	B2Emu         bool          // b2emu over HTTP, else fstest.Store
	MetadataDelay time.Duration // WriteOptions.MetadataDelay
	ReadCache     bool
	// WriteBack (staging.Options.WriteBack) makes close return once the
	// file is durable on local disk, uploading WriteBackDelay later: a
	// crash then loses nothing acknowledged (recovery uploads it).
	WriteBack      bool
	WriteBackDelay time.Duration
}

// vfsInst is one start of the filesystem.
type vfsInst struct {
	fsys  *vfs.FS
	mc    *cache.Cache
	st    *staging.Manager
	rc    *readcache.Cache
	dead  bool
	drain chan struct{} // closed when the background upload of recovered files ends
	stop  context.CancelFunc
}

func startVFS(tmp string, cfg vfsConfig) (*vfsTarget, error) {
	t := &vfsTarget{cfg: cfg, dir: tmp, log: &tailLog{}}
	lvl := slog.LevelInfo
	if os.Getenv("B2FS_MODEL_LOG") == "debug" {
		lvl = slog.LevelDebug
	}
	t.logger = slog.New(slog.NewTextHandler(t.log, &slog.HandlerOptions{Level: lvl}))
	errLog = t.logger
	t.ctx, t.cancel = context.WithCancel(context.Background())
	if cfg.B2Emu {
		e, err := newEmu()
		if err != nil {
			return nil, err
		}
		t.emu = e
		c, err := b2client.New(context.Background(), b2client.Config{Endpoint: e.hs.URL, KeyID: e.keyID, Key: e.key,
			MinBackoff: 5 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, Logger: t.logger.With("component", "b2client")})
		if err != nil {
			e.close()
			return nil, err
		}
		bk, err := c.BucketByName(context.Background(), e.bucket)
		if err != nil {
			e.close()
			return nil, err
		}
		be := b2backend.New(c, b2backend.Options{PartSize: partSize, Concurrency: 4})
		t.be, t.current, t.bucket = be, be.Current, vfs.Bucket{ID: bk.ID, Name: bk.Name}
	} else {
		t.store = fstest.NewStore("model-bucket")
		t.be, t.current, t.bucket = t.store, t.store.Current, vfs.Bucket{ID: "model-bucket", Name: "model-bucket"}
	}
	if err := t.start(); err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

// start builds a filesystem over the backend and the directories,
// recovering what an earlier one left staged.
func (t *vfsTarget) start() error {
	fmt.Fprintf(t.log, "=== model: starting the vfs\n")
	in := &vfsInst{}
	var err error
	if in.mc, err = cache.New(cache.Options{MaxEntries: 200_000, DirTTL: time.Minute, AttrTTL: time.Minute, NegativeTTL: 30 * time.Second}); err != nil {
		return err
	}
	part, cutoff, err := staging.ChooseSizes(partSize, 0, partSize, partSize)
	if err != nil {
		return err
	}
	var keep staging.Keeper
	if t.cfg.ReadCache {
		in.rc, err = readcache.Open(readcache.Options{Dir: filepath.Join(t.dir, "readcache"), MaxSize: 256 << 20, Logger: t.logger.With("component", "readcache")})
		if err != nil {
			in.mc.Close()
			return err
		}
		keep = in.rc
	}
	in.st, err = staging.New(staging.Options{Dir: filepath.Join(t.dir, "staging"), Remote: t.be, PartSize: part, UploadCutoff: cutoff,
		Concurrency: 4, Keep: keep, FastStreamedClose: false, Logger: t.logger.With("component", "staging"),
		WriteBack: t.cfg.WriteBack, WriteBackDelay: t.cfg.WriteBackDelay, Transfers: 2})
	if err != nil {
		in.rc.Close()
		in.mc.Close()
		return err
	}
	in.fsys, err = vfs.New(vfs.Options{Backend: t.be, Cache: in.mc, Logger: t.logger, Bucket: t.bucket,
		UID: uint32(os.Getuid()), GID: uint32(os.Getgid()), ReadCache: in.rc,
		Write: vfs.WriteOptions{Staging: in.st, Backend: t.be, MetadataDelay: t.cfg.MetadataDelay, KeepDirMarkers: true}})
	if err != nil {
		in.st.Close(context.Background())
		in.rc.Close()
		in.mc.Close()
		return err
	}
	t.inst = in
	ctx, cancel := context.WithTimeout(t.ctx, time.Minute)
	defer cancel()
	res, err := in.st.Recover(ctx, t.current)
	if err != nil {
		return fmt.Errorf("recover: %w", err)
	}
	pending := 0
	for _, r := range res {
		if r.Outcome == staging.RecoveredPending {
			pending++
		}
	}
	if len(res) > 0 {
		t.logger.Info("staged files of an earlier run", "found", len(res), "to_upload", pending)
	}
	if pending == 0 {
		return nil
	}
	dctx, stop := context.WithCancel(t.ctx)
	in.drain, in.stop = make(chan struct{}), stop
	go func() {
		defer close(in.drain)
		if err := in.st.Drain(dctx); err != nil && dctx.Err() == nil {
			t.logger.Error("uploading staged files of an earlier run", "err", err)
		}
	}()
	return nil
}

// stopDrain ends the background upload of recovered files.
func (in *vfsInst) stopDrain() {
	if in.stop != nil {
		in.stop()
		<-in.drain
	}
}

// stop ends the current filesystem cleanly, as cmd/b2fs does at unmount.
func (t *vfsTarget) stop() error {
	in := t.inst
	in.dead = true
	ctx, cancel := context.WithTimeout(t.ctx, time.Minute)
	defer cancel()
	in.fsys.StopWrites()
	var errs []error
	if err := in.fsys.FlushMetadata(ctx); err != nil {
		errs = append(errs, fmt.Errorf("flush metadata: %w", err))
	}
	in.stopDrain()
	if err := in.st.Close(ctx); err != nil {
		errs = append(errs, fmt.Errorf("close staging: %w", err))
	}
	if err := in.fsys.Shutdown(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := in.rc.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close read cache: %w", err))
	}
	in.mc.Close()
	return errors.Join(errs...)
}

// abandon stops the current filesystem the way a killed process stops:
// nothing more reaches the backend or the staging directory, nothing is
// flushed. (The read cache is closed as at a stop: what it holds is keyed
// by file ID and never wrong.)
func (t *vfsTarget) abandon() {
	in := t.inst
	in.dead = true
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	in.stopDrain()
	in.fsys.Shutdown(ctx)
	in.st.Abandon()
	in.rc.Close()
	in.mc.Close()
}

// backgroundUploads: in write-back mode files go up in the background.
func (t *vfsTarget) backgroundUploads() bool { return t.cfg.WriteBack }

func (t *vfsTarget) Remount() error {
	if err := t.stop(); err != nil {
		return err
	}
	return t.start()
}

func (t *vfsTarget) Crash() error {
	t.abandon()
	fmt.Fprintf(t.log, "=== model: vfs abandoned (crash)\n")
	return t.start()
}

func (t *vfsTarget) Fault(f Fault) {
	if t.emu == nil {
		return // the in-memory store has no faults
	}
	if f.ExpireTokens {
		t.emu.srv.ExpireTokens()
		return
	}
	t.emu.srv.AddFault(f.Rule)
}

func (t *vfsTarget) ClearFaults() {
	if t.emu != nil {
		t.emu.srv.ClearFaults()
	}
}

func (t *vfsTarget) Log() string {
	s := t.log.String()
	if p := os.Getenv("B2FS_MODEL_KEEPLOG"); p != "" {
		if f, err := os.OpenFile(p, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
			fmt.Fprintf(f, "=== model: failure at %s\n%s", time.Now().UTC().Format(time.RFC3339Nano), s)
			f.Close()
		}
	}
	return tail(s, 80)
}

// stuck is called when a step hangs: the goroutines go to the log and
// every call in progress is cancelled.
func (t *vfsTarget) stuck() {
	var b bytes.Buffer
	pprof.Lookup("goroutine").WriteTo(&b, 2)
	fmt.Fprintf(t.log, "=== model: a step hangs; goroutines:\n%s", b.String())
	t.cancel()
}

// Close stops the filesystem cleanly and the emulator.
func (t *vfsTarget) Close() error {
	var err error
	if t.inst != nil && !t.inst.dead {
		err = t.stop()
	}
	t.cancel()
	if t.emu != nil {
		t.emu.close()
	}
	if err == nil && strings.Contains(t.log.String(), "panic") {
		err = fmt.Errorf("the log shows a panic")
	}
	return err
}

// tailLog keeps the last lines written (the filesystem's log).
type tailLog struct {
	mu    sync.Mutex
	lines []string
}

const tailLines = 2000

func (l *tailLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range strings.SplitAfter(string(p), "\n") {
		if s != "" {
			l.lines = append(l.lines, s)
		}
	}
	if len(l.lines) > 2*tailLines {
		l.lines = append([]string(nil), l.lines[len(l.lines)-tailLines:]...)
	}
	return len(p), nil
}

func (l *tailLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "")
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
