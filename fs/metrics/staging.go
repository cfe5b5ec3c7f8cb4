package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// registerStaging adds the gauges of the staging directory and the read
// cache.
func (m *Metrics) registerStaging(o Options) {
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
