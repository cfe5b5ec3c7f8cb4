package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// WriteBack are the figures of the changes not yet in B2 and of the
// uploads done so far: what b2fs status shows, the systemd STATUS= line
// and the b2fs_pending_* and b2fs_upload* metrics.
type WriteBack struct {
	PendingFiles  int       // files with changes not yet in B2
	PendingBytes  int64     // their size
	OldestPending time.Time // the oldest change not in B2 (zero: none)
	Uploading     int       // files being uploaded now
	UploadedBytes int64     // bytes of the uploads finished since the start
	UploadsDone   int64     // uploads finished since the start
	Conflicts     int64     // uploads over a version someone else wrote
	Retries       int64     // uploads tried again after a failure
	UploadErrors  int64     // upload attempts that failed
	RecentErrors  []UploadError
}

// UploadError is one failed upload.
type UploadError struct {
	Time time.Time
	Name string // bucket/name, "" when not known
	Err  string
}

// Age is how long the oldest pending change has waited at now (0: none).
func (w WriteBack) Age(now time.Time) time.Duration {
	if w.PendingFiles == 0 || w.OldestPending.IsZero() {
		return 0
	}
	return max(0, now.Sub(w.OldestPending))
}

// registerWriteBack adds the gauges and counters of WriteBack figures.
// Each series calls wb once per scrape.
func (m *Metrics) registerWriteBack(wb func() WriteBack, now func() time.Time) {
	gauge := func(name, help string, f func(WriteBack) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return f(wb()) })
	}
	counter := func(name, help string, f func(WriteBack) float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return f(wb()) })
	}
	m.reg.MustRegister(
		gauge("b2fs_pending_uploads", "Files with changes not yet in B2.", func(w WriteBack) float64 { return float64(w.PendingFiles) }),
		gauge("b2fs_uploads_in_progress", "Files being uploaded now.", func(w WriteBack) float64 { return float64(w.Uploading) }),
		gauge("b2fs_pending_upload_bytes", "Size of the files with changes not yet in B2.", func(w WriteBack) float64 { return float64(w.PendingBytes) }),
		gauge("b2fs_oldest_pending_upload_seconds", "Age of the oldest change not yet in B2 (0: none). Files open for writing count.",
			func(w WriteBack) float64 { return w.Age(now()).Seconds() }),
		counter("b2fs_uploaded_bytes_total", "Bytes of the file uploads finished since the start.", func(w WriteBack) float64 { return float64(w.UploadedBytes) }),
		counter("b2fs_uploads_total", "File uploads finished since the start.", func(w WriteBack) float64 { return float64(w.UploadsDone) }),
		counter("b2fs_upload_conflicts_total", "Uploads of a name that someone else changed in B2 meanwhile (both versions are kept).",
			func(w WriteBack) float64 { return float64(w.Conflicts) }),
		counter("b2fs_upload_retries_total", "File uploads tried again after a failure.", func(w WriteBack) float64 { return float64(w.Retries) }),
		counter("b2fs_upload_errors_total", "File upload attempts that failed (the data is kept and tried again).",
			func(w WriteBack) float64 { return float64(w.UploadErrors) }),
	)
}
