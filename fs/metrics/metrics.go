package metrics

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/b2fs/b2fs/b2client"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Prices are the assumed prices in US dollars per call of each
// transaction class.
type Prices struct {
	A, B, C float64
}

// DefaultPrices are the one place b2fs keeps B2's prices (the metrics'
// estimate, b2fs status): Class A free, Class B $0.004 per 10,000 calls,
// Class C $0.004 per 1,000 calls. Source: Backblaze's B2 transaction
// pricing page (https://www.backblaze.com/cloud-storage/transaction-pricing),
// prices as recorded on 2026-12-06; they change, check the page.
var DefaultPrices = Prices{A: 0, B: 0.004 / 10_000, C: 0.004 / 1_000}

// classes maps B2 API names to their transaction class (b2-api-reference
// §12). Names not listed count as class "other" and cost nothing.
var classes = map[string]string{
	"b2_cancel_large_file": "A", "b2_delete_bucket": "A", "b2_delete_file_version": "A",
	"b2_delete_key": "A", "b2_finish_large_file": "A", "b2_get_upload_part_url": "A",
	"b2_get_upload_url": "A", "b2_hide_file": "A", "b2_start_large_file": "A",
	"b2_update_file_legal_hold": "A", "b2_update_file_retention": "A",
	"b2_upload_file": "A", "b2_upload_part": "A",

	"b2_download_file_by_id": "B", "b2_download_file_by_name": "B", "b2_get_file_info": "B",

	"b2_authorize_account": "C", "b2_copy_file": "C", "b2_copy_part": "C",
	"b2_create_bucket": "C", "b2_create_key": "C", "b2_get_download_authorization": "C",
	"b2_list_buckets": "C", "b2_list_file_names": "C", "b2_list_file_versions": "C",
	"b2_list_keys": "C", "b2_list_parts": "C", "b2_list_unfinished_large_files": "C",
	"b2_update_bucket": "C",
}

// Class returns the transaction class ("A", "B", "C", or "other") of a B2
// API name.
func Class(api string) string {
	if c, ok := classes[api]; ok {
		return c
	}
	return "other"
}

// Options configure Metrics.
type Options struct {
	// Prices default to DefaultPrices.
	Prices *Prices
	// WriteBack, when set, reports the changes not yet in B2 and the
	// uploads done (b2fs_pending_*, b2fs_upload*).
	WriteBack func() WriteBack
	// Cache, when set, reports metadata cache hits and misses.
	Cache func() (hits, misses int64)
	// PendingMetadata, when set, reports the files whose metadata changes
	// are not in B2 yet (see --metadata-delay).
	PendingMetadata func() int
	// StagingBytes, when set, reports the bytes staged and the limit
	// (--cache-max-size, 0 for none).
	StagingBytes func() (used, limit int64)
	// ReadCache, when set, reports the persistent read cache: bytes read
	// from it and bytes that had to be downloaded, its size and its bound.
	ReadCache func() (hitBytes, missBytes, used, limit int64)
	// ReadCacheOpens, when set, reports the opens of files entirely in
	// the read cache (FUSE passthrough opens where it is in effect).
	ReadCacheOpens func() int64

	now func() time.Time // tests
}

// Metrics holds the counters of one mount.
type Metrics struct {
	reg    *prometheus.Registry
	prices Prices

	calls    *prometheus.CounterVec   // api, class
	errors   *prometheus.CounterVec   // api, code
	duration *prometheus.HistogramVec // class
	bytes    *prometheus.CounterVec   // direction
	fuseOps  *prometheus.CounterVec   // op
	fuseErrs *prometheus.CounterVec   // op, errno
	fuseLat  *prometheus.HistogramVec // op

	// mu guards the plain per-class tallies used by Summary and the cost.
	mu      sync.Mutex
	byClass map[string]int64
	byAPI   map[string]int64
}

// New creates Metrics with a fresh registry that also holds the Go runtime
// and process collectors.
func New(o Options) *Metrics {
	m := &Metrics{
		reg:     prometheus.NewRegistry(),
		prices:  DefaultPrices,
		byClass: map[string]int64{},
		byAPI:   map[string]int64{},
	}
	if o.Prices != nil {
		m.prices = *o.Prices
	}
	m.calls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "b2fs_b2_calls_total", Help: "B2 API requests sent (retries included), by API name and transaction class.",
	}, []string{"api", "class"})
	m.errors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "b2fs_b2_errors_total", Help: "B2 API requests that failed, by API name and B2 error code (\"network\" for transport errors).",
	}, []string{"api", "code"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "b2fs_b2_call_duration_seconds", Help: "Duration of B2 API requests, by transaction class.",
		Buckets: prometheus.ExponentialBuckets(0.005, 4, 8),
	}, []string{"class"})
	m.bytes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "b2fs_b2_bytes_total", Help: "File content bytes transferred with B2 (direction=download|upload).",
	}, []string{"direction"})
	m.fuseOps = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "b2fs_fuse_ops_total", Help: "FUSE requests served, by operation.",
	}, []string{"op"})
	m.fuseErrs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "b2fs_fuse_errors_total", Help: "FUSE requests answered with an error, by operation and errno name (ENOENT included).",
	}, []string{"op", "errno"})
	m.fuseLat = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "b2fs_fuse_op_duration_seconds", Help: "Time to serve FUSE requests, by operation.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
	}, []string{"op"})
	cost := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "b2fs_b2_estimated_cost_dollars",
		Help: "Estimated price of the B2 calls of this mount in US dollars (Class B $0.004/10,000, Class C $0.004/1,000; daily free allowance ignored).",
	}, m.Cost)
	m.reg.MustRegister(m.calls, m.errors, m.duration, m.bytes, m.fuseOps, m.fuseErrs, m.fuseLat, cost,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if o.WriteBack != nil {
		now := o.now
		if now == nil {
			now = time.Now
		}
		m.registerWriteBack(o.WriteBack, now)
	}
	if o.PendingMetadata != nil {
		pm := o.PendingMetadata
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "b2fs_pending_metadata_changes", Help: "Files whose metadata changes are not in B2 yet."},
			func() float64 { return float64(pm()) }))
	}
	m.registerStaging(o)
	if o.Cache != nil {
		c := o.Cache
		m.reg.MustRegister(
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "b2fs_cache_hits_total", Help: "Metadata cache lookups answered from the cache."},
				func() float64 { h, _ := c(); return float64(h) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "b2fs_cache_misses_total", Help: "Metadata cache lookups that found nothing fresh."},
				func() float64 { _, mi := c(); return float64(mi) }),
		)
	}
	return m
}

// Observe is a b2client.Observer.
func (m *Metrics) Observe(ev b2client.RequestEvent) {
	class := Class(ev.API)
	m.calls.WithLabelValues(ev.API, class).Inc()
	m.duration.WithLabelValues(class).Observe(ev.Duration.Seconds())
	switch ev.API {
	case "b2_download_file_by_id", "b2_download_file_by_name":
		m.bytes.WithLabelValues("download").Add(float64(ev.BytesReceived))
	case "b2_upload_file", "b2_upload_part":
		if ev.Err == nil {
			m.bytes.WithLabelValues("upload").Add(float64(ev.BytesSent))
		}
	}
	if ev.Err != nil || ev.Status >= 400 {
		m.errors.WithLabelValues(ev.API, ErrorCode(ev.Err)).Inc()
	}
	m.mu.Lock()
	m.byClass[class]++
	m.byAPI[ev.API]++
	m.mu.Unlock()
}

// ErrorCode returns the B2 error code of err ("network" when B2 did not
// answer, "" for nil).
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *b2client.Error
	if errors.As(err, &e) && e.Code != "" {
		return e.Code
	}
	return "network"
}

// Calls returns the B2 requests counted so far, by API name.
func (m *Metrics) Calls() map[string]int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]int64, len(m.byAPI))
	for k, v := range m.byAPI {
		out[k] = v
	}
	return out
}

// CallsByClass returns the B2 requests counted so far by transaction
// class ("A", "B", "C", "other"; classes without calls are left out).
func (m *Metrics) CallsByClass() map[string]int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]int64, len(m.byClass))
	for k, v := range m.byClass {
		out[k] = v
	}
	return out
}

// Prices returns the prices the estimate uses.
func (m *Metrics) Prices() Prices { return m.prices }

// Cost returns the estimated price of the B2 calls so far in US dollars.
func (m *Metrics) Cost() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return float64(m.byClass["A"])*m.prices.A + float64(m.byClass["B"])*m.prices.B + float64(m.byClass["C"])*m.prices.C
}

// Summary is a one-line account of the B2 calls so far, e.g.
// "B2 calls: class A 12, class B 340, class C 25 (estimated $0.000236); top: b2_download_file_by_id 340, ...".
func (m *Metrics) Summary() string {
	m.mu.Lock()
	a, b, c := m.byClass["A"], m.byClass["B"], m.byClass["C"]
	type kv struct {
		k string
		v int64
	}
	var top []kv
	for k, v := range m.byAPI {
		top = append(top, kv{k, v})
	}
	m.mu.Unlock()
	sort.Slice(top, func(i, j int) bool { return top[i].v > top[j].v || top[i].v == top[j].v && top[i].k < top[j].k })
	var parts []string
	for i, e := range top {
		if i == 5 {
			break
		}
		parts = append(parts, fmt.Sprintf("%s %d", e.k, e.v))
	}
	s := fmt.Sprintf("B2 calls: class A %d, class B %d, class C %d (estimated $%.6f)", a, b, c, m.Cost())
	if len(parts) > 0 {
		s += "; most: " + strings.Join(parts, ", ")
	}
	return s
}

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Registry returns the registry (for tests and extra collectors).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }
