package main

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

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

// stagedUploads is writeBack over the staging manager: pending files from
// its staged files, the uploads done from the B2 calls (observe), and the
// oldest change from when each pending file was first seen by Stats.
//
// LOCK ORDER: mu is a leaf.
type stagedUploads struct {
	stage *staging.Manager
	seen  metrics.FirstSeen

	uploadedBytes, uploads, uploadErrors, conflicts atomic.Int64

	mu     sync.Mutex
	recent []metrics.UploadError // the last maxRecentErrors
}

// maxRecentErrors bounds the errors b2fs status shows.
const maxRecentErrors = 10

func newStagedUploads(stage *staging.Manager) *stagedUploads { return &stagedUploads{stage: stage} }

// Sync uploads every staged file with changes not yet in B2; files whose
// upload fails stay staged and the error names them.
func (s *stagedUploads) Sync(ctx context.Context) error { return s.stage.Drain(ctx) }

// Stats implements writeBack.
func (s *stagedUploads) Stats() metrics.WriteBack {
	files, uploading, bytes := s.stage.PendingStats()
	var names []string
	for _, k := range s.stage.Pending() {
		names = append(names, k.String())
	}
	w := metrics.WriteBack{
		PendingFiles: files, PendingBytes: bytes, Uploading: uploading,
		OldestPending: s.seen.Oldest(names, time.Now()),
		UploadedBytes: s.uploadedBytes.Load(), UploadsDone: s.uploads.Load(),
		Conflicts: s.conflicts.Load(), UploadErrors: s.uploadErrors.Load(),
	}
	s.mu.Lock()
	w.RecentErrors = append([]metrics.UploadError(nil), s.recent...)
	s.mu.Unlock()
	return w
}

// observe counts the upload calls of a B2 request event (a
// b2client.Observer, next to the metrics').
func (s *stagedUploads) observe(ev b2client.RequestEvent) {
	switch ev.API {
	case "b2_upload_file", "b2_upload_part", "b2_finish_large_file":
	default:
		return
	}
	if ev.Err != nil || ev.Status >= 400 {
		s.uploadErrors.Add(1)
		msg := ev.API + ": " + metrics.ErrorCode(ev.Err)
		if ev.Err != nil {
			msg = ev.API + ": " + ev.Err.Error()
		}
		s.mu.Lock()
		s.recent = append(s.recent, metrics.UploadError{Time: time.Now(), Err: msg})
		if len(s.recent) > maxRecentErrors {
			s.recent = s.recent[len(s.recent)-maxRecentErrors:]
		}
		s.mu.Unlock()
		return
	}
	s.uploadedBytes.Add(ev.BytesSent)
	if ev.API != "b2_upload_part" {
		s.uploads.Add(1)
	}
}
