package staging

import (
	"context"
	"time"
)

// Unfinished is a large file B2 holds started and neither finished nor
// cancelled.
type Unfinished struct {
	ID   string
	Name string
	Info map[string]string
}

// UnfinishedLister is implemented by Remotes that list the unfinished
// large files of one name (b2_list_unfinished_large_files).
type UnfinishedLister interface {
	ListUnfinished(ctx context.Context, bucketID, name string) ([]Unfinished, error)
}

// announceStart records in the manifest that a large file is being
// started for f, before the call that starts it: if b2fs dies before the
// answer is recorded, recovery finds the unfinished large file by name
// and modification time and cancels it (cancelStrays) instead of leaving
// its parts billed in B2.
func (f *File) announceStart(req UploadRequest) {
	f.mu.Lock()
	f.startingMtime = req.Info[InfoMtime]
	f.mu.Unlock()
	f.mu.Lock()
	committed := f.committed
	f.mu.Unlock()
	if committed {
		f.persist() // durably in write-back mode: a power cut may follow
	} else {
		f.saveManifest() // see recordLarge
	}
}

// cancelStrays cancels the unfinished large files of man's name that a
// killed b2fs started for it without recording their IDs: those whose
// src_last_modified_millis is man.LargeStarting. Another writer's upload
// of the name carries its own time and is left alone.
func (m *Manager) cancelStrays(ctx context.Context, man *Manifest) {
	ul, ok := m.opts.Remote.(UnfinishedLister)
	if !ok || man.LargeStarting == "" {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	list, err := ul.ListUnfinished(cctx, man.BucketID, man.Name)
	if err != nil {
		m.log.Warn("list unfinished large files of an earlier run; any left stay in B2", "file", man.BucketName+"/"+man.Name, "err", err)
		return
	}
	for _, u := range list {
		if u.Name != man.Name || u.ID == man.LargeFileID || u.Info[InfoMtime] != man.LargeStarting {
			continue
		}
		if err := m.opts.Remote.CancelLargeFile(cctx, u.ID); err != nil {
			m.log.Warn("cancel unfinished large file of an earlier run", "file", man.BucketName+"/"+man.Name, "fileId", u.ID, "err", err)
			continue
		}
		m.log.Info("cancelled an unfinished large file an earlier run started", "file", man.BucketName+"/"+man.Name, "fileId", u.ID)
	}
}
