package metrics

import "github.com/prometheus/client_golang/prometheus"

// ReadCacheStats is what the persistent read cache reports.
type ReadCacheStats struct {
	// HitBytes were served from the cache, MissBytes downloaded into it.
	HitBytes, MissBytes int64
	// Corrupt blocks failed verification (dropped, downloaded again);
	// Skipped blocks were not cached because the disk was behind.
	Corrupt, Skipped int64
	// Used and Limit are the cached bytes and the bound.
	Used, Limit int64
}

// registerReadCache adds the read cache series when o.ReadCache is set.
func (m *Metrics) registerReadCache(o Options) {
	rc := o.ReadCache
	if rc == nil {
		return
	}
	bytes := func(hit bool) func() float64 {
		return func() float64 {
			s := rc()
			if hit {
				return float64(s.HitBytes)
			}
			return float64(s.MissBytes)
		}
	}
	m.reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "b2fs_read_cache_bytes_total", Help: "File bytes read through the persistent read cache, by source.",
			ConstLabels: prometheus.Labels{"source": "cache"}}, bytes(true)),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "b2fs_read_cache_bytes_total", Help: "File bytes read through the persistent read cache, by source.",
			ConstLabels: prometheus.Labels{"source": "download"}}, bytes(false)),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "b2fs_read_cache_corrupt_blocks_total", Help: "Cached blocks that failed verification (dropped and downloaded again)."},
			func() float64 { return float64(rc().Corrupt) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "b2fs_read_cache_skipped_blocks_total", Help: "Downloaded blocks not cached because the disk was behind."},
			func() float64 { return float64(rc().Skipped) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "b2fs_read_cache_used_bytes", Help: "Bytes in the persistent read cache."},
			func() float64 { return float64(rc().Used) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "b2fs_read_cache_limit_bytes", Help: "Bound of the persistent read cache (--read-cache-size, lowered when the disk fills)."},
			func() float64 { return float64(rc().Limit) }),
	)
}
