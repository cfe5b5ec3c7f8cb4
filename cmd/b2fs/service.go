package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/b2fs/b2fs/fs"
	"github.com/b2fs/b2fs/fs/metrics"
	"github.com/b2fs/b2fs/fs/staging"
	"github.com/b2fs/b2fs/internal/control"
	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// fuseSuperMagic is the f_type statfs reports for FUSE mounts.
const fuseSuperMagic = 0x65735546

// cleanStaleMount detaches a mount left at dir by a b2fs (or other FUSE
// daemon) that died: its stat fails with ENOTCONN ("transport endpoint is
// not connected"). Other directories are left alone.
// A live mount at dir is an error: b2fs does not stack mounts.
func cleanStaleMount(dir string, log *slog.Logger) error {
	_, err := os.Stat(dir)
	if err == nil {
		// stat may be answered from attributes the kernel still caches
		// (default_permissions); statfs always asks the daemon.
		var st syscall.Statfs_t
		err = syscall.Statfs(dir, &st)
	}
	if !errors.Is(err, syscall.ENOTCONN) && !errors.Is(err, syscall.ECONNABORTED) {
		if err == nil && isMountPoint(dir) {
			return fmt.Errorf("%s is already a mount point (is b2fs already running there?)", dir)
		}
		return nil
	}
	log.Warn("mount point has a stale mount from a process that died; detaching it", "mountpoint", dir)
	if err := lazyUnmount(dir); err != nil {
		return fmt.Errorf("mount point %s has a stale mount that cannot be detached: %w", dir, err)
	}
	if _, err := os.Stat(dir); err != nil {
		return fmt.Errorf("mount point %s after detaching a stale mount: %w", dir, err)
	}
	return nil
}

// lazyUnmount detaches the mount at dir (fusermount3 -u -z, then umount -l
// for root).
func lazyUnmount(dir string) error {
	var errs []error
	for _, argv := range [][]string{{"fusermount3", "-u", "-z", dir}, {"fusermount", "-u", "-z", dir}, {"umount", "-l", dir}} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
		cancel()
		if err == nil {
			return nil
		}
		errs = append(errs, fmt.Errorf("%s: %v: %s", argv[0], err, trimOut(out)))
	}
	return errors.Join(errs...)
}

func trimOut(b []byte) string {
	s := string(b)
	if len(s) > 200 {
		s = s[:200]
	}
	return oneLine(errors.New(s))
}

// startServer mounts fsys at dir with every FUSE operation counted by met,
// and starts serving.
func startServer(dir string, fsys *fs.FS, fo *fusefs.Options, met *metrics.Metrics) (*fuse.Server, error) {
	raw := met.WrapFUSE(fsys.WrapRaw(fusefs.NewNodeFS(fsys.Root(), fo)))
	srv, err := fuse.NewServer(raw, dir, &fo.MountOptions)
	if err != nil {
		return nil, err
	}
	go srv.Serve()
	if err := srv.WaitMount(); err != nil {
		lazyUnmount(dir)
		return nil, err
	}
	return srv, nil
}

// waitServing returns once the kernel answers a stat of the mount root
// with a FUSE filesystem. The stat runs in its own goroutine (never one
// serving FUSE) and is bounded by timeout.
func waitServing(dir string, timeout time.Duration) error {
	done := make(chan error, 1)
	go func() {
		var st syscall.Statfs_t
		if err := syscall.Statfs(dir, &st); err != nil {
			done <- err
			return
		}
		if st.Type != fuseSuperMagic {
			done <- fmt.Errorf("%s is not a FUSE mount (f_type %#x)", dir, st.Type)
			return
		}
		_, err := os.Stat(dir)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("mount %s does not answer: %w", dir, err)
		}
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("mount %s did not answer stat within %v", dir, timeout)
	}
}

// serveMetrics serves met on addr at /metrics until ctx ends.
func serveMetrics(ctx context.Context, addr string, met *metrics.Metrics, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--metrics-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", met.Handler())
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintln(w, "b2fs: metrics at /metrics")
	})
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		hs.Shutdown(sctx)
	}()
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", "err", err)
		}
	}()
	log.Info("serving metrics", "addr", "http://"+ln.Addr().String()+"/metrics")
	return nil
}

// recoverStaged runs staging recovery before the mount serves requests
// and logs the outcome.
func recoverStaged(ctx context.Context, st *staging.Manager, current staging.CurrentFunc, log *slog.Logger) (pending int) {
	res, err := st.Recover(ctx, current)
	if err != nil {
		log.Error("recover staged files of an earlier run", "err", err)
		return 0
	}
	for _, r := range res {
		switch r.Outcome {
		case staging.RecoveredPending:
			pending++
		case staging.RecoveredConflict, staging.RecoveredFailed:
			// logged by Recover with the file and the staged path
		}
	}
	if len(res) > 0 {
		log.Info("staged files of an earlier run", "found", len(res), "to_upload", pending)
	}
	return pending
}

// session is a mounted filesystem being served until it is asked to stop.
type session struct {
	cfg     *config
	log     *slog.Logger
	fsys    *fs.FS
	srv     *fuse.Server
	stage   *staging.Manager // nil for read-only mounts
	closeWr func(context.Context) error
	met     *metrics.Metrics
	notify  *notifier
	// stopWatchdog ends the watchdog pings and the status refresh when
	// stopping starts.
	stopWatchdog func()
	ctl          *mountControl
	ctlSrv       *control.Server // nil without a control socket
}

// run serves until a signal or an external unmount, then shuts down:
// new writes fail with EROFS, the mount is detached (lazily when files are
// still open), open files are given until --shutdown-timeout to close,
// and the staged changes are uploaded within the same deadline. Whatever
// could not be uploaded stays in the cache directory, is named in the log,
// and is uploaded at the next start.
func (s *session) run(sigs <-chan os.Signal) error {
	done := make(chan struct{})
	go func() { s.srv.Wait(); close(done) }()

	external := false
wait:
	for {
		select {
		case <-done:
			external = true
			break wait
		case sig := <-sigs:
			s.log.Info("signal received; stopping", "signal", sig.String())
			break wait
		}
	}
	deadline := time.Now().Add(s.cfg.svc.shutdownTimeout)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	// A second signal gives up waiting: staged data is kept for the next start.
	go func() {
		select {
		case sig := <-sigs:
			s.log.Warn("second signal; not waiting for uploads (staged data is kept for the next start)", "signal", sig.String())
			cancel()
		case <-ctx.Done():
		}
	}()
	s.stopWatchdog()
	if s.ctlSrv != nil {
		// b2fs sync and status end with the mount; a sync in progress is
		// told that the mount stops (the uploads go on below).
		s.ctlSrv.Close()
	}
	s.notify.stopping(s.ctl.statusLine("stopping"))
	// While the uploads make progress, systemd is asked for more time.
	ectx, stopExtend := context.WithCancel(ctx)
	defer stopExtend()
	go s.ctl.extendWhileUploading(ectx, s.notify, deadline, extendInterval(s.cfg.svc.shutdownTimeout))
	s.fsys.StopWrites()
	mp := s.cfg.mountpoint
	wait := true
	if external {
		s.log.Info("unmounted externally; finishing uploads", "mountpoint", mp)
	} else {
		wait = s.unmount(mp, done)
	}
	// After a lazy detach, serve until the kernel drops the connection:
	// that is when the last open file is closed.
	status := time.NewTicker(2 * time.Second)
	defer status.Stop()
	for stopped := !wait; !stopped; {
		select {
		case <-done:
			stopped = true
		case <-status.C:
			s.notify.status(s.ctl.statusLine("stopping: waiting for open files to close"))
		case <-ctx.Done():
			s.log.Error("files still open on the mount at the shutdown deadline; exiting anyway", "mountpoint", mp)
			stopped = true
		}
	}
	s.log.Info("unmounted", "mountpoint", mp)

	var upErr error
	if s.stage != nil {
		s.notify.status(s.ctl.statusLine("stopping: uploading"))
		// Metadata changes not yet in B2 (see --metadata-delay) go first:
		// they are copies of versions already uploaded.
		if err := s.fsys.FlushMetadata(ctx); err != nil {
			upErr = fmt.Errorf("%d metadata changes not applied: %w", s.fsys.PendingMetadata(), err)
		}
		if err := s.closeWr(ctx); err != nil {
			upErr = errors.Join(upErr, s.reportLeft())
		}
	}
	// Nothing the filesystem started may outlive it.
	if err := s.fsys.Shutdown(ctx); err != nil {
		s.log.Error("stopping the filesystem", "err", err)
	}
	s.log.Info(s.met.Summary())
	return upErr
}

// reportLeft names every staged file that did not reach B2.
func (s *session) reportLeft() error {
	left, err := staging.PendingManifests(s.stage.Dir())
	if err != nil {
		return fmt.Errorf("uploads failed, and the staging directory cannot be read: %w", err)
	}
	for _, m := range left {
		s.log.Error("not uploaded; kept in the cache directory and uploaded at the next start",
			"file", m.BucketName+"/"+m.Name, "size", m.Size, "staged", filepath.Join(s.stage.Dir(), m.ID+".data"), "last_error", m.Error)
	}
	if len(left) == 0 {
		return nil
	}
	return fmt.Errorf("%d files not uploaded; kept in %s", len(left), s.stage.Dir())
}

// stopSignals returns the channel of SIGTERM and SIGINT.
func stopSignals() (<-chan os.Signal, func()) {
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
	return ch, func() { signal.Stop(ch) }
}

// cancelOnSignal returns a channel that carries the signals of sigs; the
// first one also calls cancel (which aborts a start in progress).
func cancelOnSignal(sigs <-chan os.Signal, cancel func()) <-chan os.Signal {
	out := make(chan os.Signal, 2)
	go func() {
		for sig := range sigs {
			cancel()
			select {
			case out <- sig:
			default: // a stop is already pending
			}
		}
	}()
	return out
}

// isMountPoint reports whether dir is the root of a mount: its device
// differs from its parent's, or it is its parent (/).
func isMountPoint(dir string) bool {
	var st, pst syscall.Stat_t
	if syscall.Stat(dir, &st) != nil || syscall.Stat(filepath.Join(dir, ".."), &pst) != nil {
		return false
	}
	return st.Dev != pst.Dev || st.Ino == pst.Ino
}
