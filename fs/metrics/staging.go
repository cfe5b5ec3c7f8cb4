package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// pendingAge tracks how long each staged file has been pending, as seen by
// the scrapes: a file's age runs from the first scrape that found it
// pending, so it is exact to the scrape interval, and a file uploaded and
// changed again between two scrapes keeps its age.
//
// LOCK ORDER: mu is a leaf; names is called without it.
type pendingAge struct {
	names func() []string
	now   func() time.Time

	mu    sync.Mutex
	since map[string]time.Time // bounded by the staged files
}

// oldest returns the age in seconds of the file pending longest (0: none).
func (p *pendingAge) oldest() float64 {
	names := p.names()
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	next := make(map[string]time.Time, len(names))
	var age time.Duration
	for _, n := range names {
		t, ok := p.since[n]
		if !ok {
			t = now
		}
		next[n] = t
		age = max(age, now.Sub(t))
	}
	p.since = next
	return age.Seconds()
}

// registerStaging adds the gauges of the staging directory and the read
// cache.
func (m *Metrics) registerStaging(o Options) {
	if o.PendingNames != nil {
		p := &pendingAge{names: o.PendingNames, now: o.now, since: map[string]time.Time{}}
		if p.now == nil {
			p.now = time.Now
		}
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "b2fs_oldest_pending_upload_seconds",
			Help: "Age of the staged file that has had changes not in B2 the longest (0: none), measured from the first scrape that saw it pending. Files open for writing count.",
		}, p.oldest))
	}
	if o.StagingBytes != nil {
		sb := o.StagingBytes
		m.reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "b2fs_staging_bytes", Help: "Bytes reserved by files staged in the cache directory, as counted against --cache-max-size."},
				func() float64 { u, _ := sb(); return float64(u) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "b2fs_staging_limit_bytes", Help: "--cache-max-size: beyond it writes fail with ENOSPC (0: no limit but the disk)."},
				func() float64 { _, l := sb(); return float64(l) }),
		)
	}
	if o.ReadCache != nil {
		rc := o.ReadCache
		m.reg.MustRegister(
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "b2fs_read_cache_hit_bytes_total", Help: "Bytes of file content b2fs read from the persistent read cache (reads the kernel serves by passthrough are not seen)."},
				func() float64 { h, _, _, _ := rc(); return float64(h) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "b2fs_read_cache_miss_bytes_total", Help: "Bytes of file content the read cache did not have (downloaded)."},
				func() float64 { _, mi, _, _ := rc(); return float64(mi) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "b2fs_read_cache_bytes", Help: "Bytes held by the persistent read cache."},
				func() float64 { _, _, u, _ := rc(); return float64(u) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "b2fs_read_cache_limit_bytes", Help: "Bound of the persistent read cache (--read-cache-size; 0: off)."},
				func() float64 { _, _, _, l := rc(); return float64(l) }),
		)
	}
	if o.ReadCacheOpens != nil {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "b2fs_read_cache_file_opens_total", Help: "Read-only opens of files entirely in the read cache, handed to the kernel (FUSE passthrough) where it is in effect."},
			func() float64 { return float64(o.ReadCacheOpens()) }))
	}
}
