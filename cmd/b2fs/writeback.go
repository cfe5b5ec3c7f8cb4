package main

import (
	"context"
	"sync/atomic"

	"github.com/b2fs/b2fs/b2client"
	"github.com/b2fs/b2fs/fs/metrics"
	"github.com/b2fs/b2fs/fs/staging"
)

// writeBack is what b2fs sync and status, the metrics and the systemd
// STATUS= line need from the uploads of changed files.
type writeBack interface {
	// Sync returns once every change pending when it was called is in B2.
	Sync(ctx context.Context) error
	// Stats returns the pending changes and the uploads done so far.
	Stats() metrics.WriteBack
}

// stagedUploads is writeBack over the staging manager (either mode), plus
// the count of failed upload requests, which it takes from the B2 calls
// (observe).
type stagedUploads struct {
	stage        *staging.Manager // set once the manager exists
	uploadErrors atomic.Int64
}

// Sync implements writeBack.
func (s *stagedUploads) Sync(ctx context.Context) error { return s.stage.Sync(ctx) }

// Stats implements writeBack.
func (s *stagedUploads) Stats() metrics.WriteBack {
	st := s.stage.Stats()
	w := metrics.WriteBack{
		PendingFiles: st.PendingFiles, PendingBytes: st.PendingBytes, OldestPending: st.OldestPending,
		Uploading: st.Uploading, UploadedBytes: st.UploadedBytes, UploadsDone: st.UploadsDone,
		Conflicts: st.Conflicts, Retries: st.Retries, UploadErrors: s.uploadErrors.Load(),
	}
	for _, e := range st.RecentErrors {
		w.RecentErrors = append(w.RecentErrors, metrics.UploadError{Time: e.Time, Name: e.Name, Err: e.Err})
	}
	return w
}

// observe counts the failed upload requests of a B2 request event (a
// b2client.Observer, next to the metrics').
func (s *stagedUploads) observe(ev b2client.RequestEvent) {
	switch ev.API {
	case "b2_upload_file", "b2_upload_part", "b2_finish_large_file":
		if ev.Err != nil || ev.Status >= 400 {
			s.uploadErrors.Add(1)
		}
	}
}
