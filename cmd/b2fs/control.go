package main

import (
	"context"

	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/b2fs/b2fs/fs"
	"github.com/b2fs/b2fs/fs/metrics"
	"github.com/b2fs/b2fs/internal/control"
)

// mountControl answers b2fs sync and b2fs status for one mount (a
// control.Handler) and keeps the upload rate.
type mountControl struct {
	mountpoint, source string
	wb                 writeBack // nil for read-only mounts
	fsys               *fs.FS
	met                *metrics.Metrics
	rate               rateWindow
}

// stats returns the write-back figures (zero for read-only mounts).
func (c *mountControl) stats() metrics.WriteBack {
	if c.wb == nil {
		return metrics.WriteBack{}
	}
	return c.wb.Stats()
}

// Sync implements control.Handler: the metadata changes not yet in B2
// (--metadata-delay), then every changed file.
func (c *mountControl) Sync(ctx context.Context) error {
	if err := c.fsys.FlushMetadata(ctx); err != nil {
		return fmt.Errorf("%d metadata changes not applied: %w", c.fsys.PendingMetadata(), err)
	}
	if c.wb == nil {
		return nil
	}
	return c.wb.Sync(ctx)
}

// Status implements control.Handler.
func (c *mountControl) Status() *control.Status {
	now := time.Now()
	w := c.stats()
	rate, window := c.rate.sample(now, w.UploadedBytes)
	s := &control.Status{
		Mountpoint: c.mountpoint, Source: c.source, PID: os.Getpid(),
		PendingFiles: w.PendingFiles, PendingBytes: w.PendingBytes, OldestPendingSeconds: w.Age(now).Seconds(),
		PendingMetadata: c.fsys.PendingMetadata(),
		Uploading:       w.Uploading, UploadRate: rate, RateWindowSeconds: window.Seconds(),
		UploadedBytes: w.UploadedBytes, UploadsDone: w.UploadsDone,
		Conflicts: w.Conflicts, Retries: w.Retries, UploadErrors: w.UploadErrors,
		RecentErrors: []control.Error{},
		Calls:        c.met.CallsByClass(), Cost: map[string]float64{},
	}
	for _, e := range w.RecentErrors {
		s.RecentErrors = append(s.RecentErrors, control.Error{Time: e.Time, Name: e.Name, Error: e.Err})
	}
	p := c.met.Prices()
	price := map[string]float64{"A": p.A, "B": p.B, "C": p.C}
	for class, n := range s.Calls {
		s.Cost[class] = float64(n) * price[class]
		s.TotalCost += s.Cost[class]
	}
	return s
}

// statusLine is the systemd STATUS= line: what the mount does, then the
// write-back figures.
func (c *mountControl) statusLine(prefix string) string {
	if c.wb == nil {
		return prefix + "; read-only"
	}
	w := c.stats()
	s := fmt.Sprintf("%s; pending files: %d (%s), uploading: %d", prefix, w.PendingFiles, control.Bytes(w.PendingBytes), w.Uploading)
	if w.PendingFiles > 0 {
		s += ", oldest " + control.Age(w.Age(time.Now()).Seconds())
	}
	return s + fmt.Sprintf("; metadata changes pending: %d", c.fsys.PendingMetadata())
}

// rateWindow turns readings of a byte counter into a rate over the last
// rateWindowLen.
//
// LOCK ORDER: mu is a leaf.
type rateWindow struct {
	mu      sync.Mutex
	samples []rateSample // oldest first, within rateWindowLen, at least rateEvery apart
}

type rateSample struct {
	t time.Time
	n int64
}

const (
	rateWindowLen = 30 * time.Second
	rateEvery     = time.Second
)

// sample records the counter's value n at now and returns the rate in
// bytes per second since the oldest reading within the window, and the
// span it covers.
func (r *rateWindow) sample(now time.Time, n int64) (float64, time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if k := len(r.samples); k == 0 || now.Sub(r.samples[k-1].t) >= rateEvery {
		r.samples = append(r.samples, rateSample{now, n})
	}
	drop := 0
	for drop < len(r.samples)-1 && now.Sub(r.samples[drop].t) > rateWindowLen {
		drop++
	}
	r.samples = r.samples[drop:]
	first := r.samples[0]
	span := now.Sub(first.t)
	if span <= 0 || n < first.n {
		return 0, span
	}
	return float64(n-first.n) / span.Seconds(), span
}

// startControl serves the control socket of the mount at mp (see package
// control). A mount whose control socket cannot be created works
// without it: the reason is logged.
func startControl(mp string, c *mountControl, log *slog.Logger) *control.Server {
	dev, ok := mountDev(absMountpoint(mp))
	if !ok {
		log.Warn("b2fs sync and b2fs status unavailable: the mount is not in the mount table", "mountpoint", mp)
		return nil
	}
	srv, err := control.Listen(dev, c, log.With("component", "control"))
	if err != nil {
		log.Warn("b2fs sync and b2fs status unavailable: no control socket", "err", err)
		return nil
	}
	log.Debug("control socket", "path", srv.Path())
	return srv
}

// monitor samples the upload counter for the rate every statusEvery and
// refreshes the systemd STATUS= line while anything is pending or the
// line changed, until ctx ends.
func (c *mountControl) monitor(ctx context.Context, n *notifier, prefix string) {
	t := time.NewTicker(statusEvery)
	defer t.Stop()
	last := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		w := c.stats()
		c.rate.sample(time.Now(), w.UploadedBytes)
		line := c.statusLine(prefix)
		if line != last || w.PendingFiles > 0 {
			n.status(line)
			last = line
		}
	}
}

// statusEvery is how often STATUS= is refreshed while changes are pending.
const statusEvery = 2 * time.Second

// extendWhileUploading asks systemd for more time to stop
// (EXTEND_TIMEOUT_USEC), every interval in which the uploads made
// progress, never past deadline, until ctx ends. Without progress no
// extension is asked for: systemd's TimeoutStopSec= applies.
func (c *mountControl) extendWhileUploading(ctx context.Context, n *notifier, deadline time.Time, interval time.Duration) {
	if c.wb == nil {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	prev := c.stats()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		w := c.stats()
		progress := w.UploadedBytes > prev.UploadedBytes || w.UploadsDone > prev.UploadsDone || w.PendingFiles < prev.PendingFiles
		prev = w
		if !progress || w.PendingFiles == 0 {
			continue
		}
		ext := min(3*interval, time.Until(deadline)+5*time.Second)
		if ext <= 0 {
			return
		}
		n.extend(c.statusLine("stopping: uploading"), ext)
	}
}

// extendInterval is how often the stopping b2fs checks the uploads'
// progress: a tenth of --shutdown-timeout, between 1 and 10 seconds.
func extendInterval(shutdown time.Duration) time.Duration {
	return min(10*time.Second, max(time.Second, shutdown/10))
}
