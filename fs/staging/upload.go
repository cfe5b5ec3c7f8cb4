package staging

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"mime"
	"path"
	"strconv"
	"time"

	"github.com/b2fs/b2fs/fs/backend"
	"golang.org/x/sync/errgroup"
)

// acquire takes one global part-upload slot.
func (m *Manager) acquire(ctx context.Context) error {
	select {
	case m.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (m *Manager) releaseSlot() { <-m.sem }

// contentSHA1 returns the SHA-1 of the first size bytes: from the running
// hash of a sequential writer, else with a pass over the staging file.
func (f *File) contentSHA1(size int64) (string, error) {
	if s, ok := f.wholeSHA1(size); ok {
		return s, nil
	}
	return f.sectionSHA1(0, size)
}

// sectionSHA1 hashes [off, off+n) of the staging file.
func (f *File) sectionSHA1(off, n int64) (string, error) {
	h := sha1.New()
	got, err := io.Copy(h, io.NewSectionReader(f.data, off, n))
	if err != nil {
		return "", fmt.Errorf("hash staging file: %w", err)
	}
	if got != n {
		return "", fmt.Errorf("hash staging file: %d of %d bytes: %w", got, n, io.ErrUnexpectedEOF)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// isLocalLocked reports whether [a, b) needs nothing from B2.
func (f *File) isLocalLocked(a, b int64) bool {
	return f.local.covers(a, min(b, f.remoteEnd))
}

// requestLocked builds the upload request for the current state with the
// given file info. Called with mu held.
func (f *File) requestLocked(mtime time.Time, sha string) UploadRequest {
	ct := f.contentType
	if ct == "" {
		ct = mime.TypeByExtension(path.Ext(f.key.Name))
	}
	if ct == "" {
		ct = "application/octet-stream"
	}
	info := copyInfo(f.info)
	info[InfoMtime] = strconv.FormatInt(mtime.UnixMilli(), 10)
	if sha != "" {
		info[InfoLargeFileSHA] = sha
	}
	return UploadRequest{BucketID: f.key.BucketID, Name: f.key.Name, ContentType: ct, Info: info}
}

// kick starts the background work that a change made possible.
func (f *File) kick() {
	f.mu.Lock()
	f.kickLocked()
	f.mu.Unlock()
	f.m.noteChange(f)
}

// kickLocked starts the large file once the size reaches the cutoff, and
// uploads of parts that are complete and local. The tail part waits for
// Flush. Called with mu held.
func (f *File) kickLocked() {
	if f.detached || f.gate != nil || !f.dirty || f.size < f.m.opts.UploadCutoff {
		return
	}
	if f.sess == nil {
		// Start a large file only when a part is ready to go: a small
		// change to a big file is cheaper to send at close.
		if !f.starting && f.startErr == nil && f.partReadyLocked() {
			f.starting = true
			req := f.requestLocked(f.mtime, "")
			mtimeMs := f.mtime.UnixMilli()
			f.goBg(func() { f.bgStart(req, mtimeMs) })
		}
		return
	}
	s := f.sess
	if s.err != nil || !s.recorded {
		return
	}
	ps := f.partSize()
	for _, k := range sortedKeys(f.pending) {
		if s.inflight >= f.m.opts.Concurrency {
			return
		}
		if (k+1)*ps > f.size {
			continue
		}
		pu := s.parts[k]
		if pu != nil && pu.uploading {
			continue
		}
		if !f.isLocalLocked(k*ps, (k+1)*ps) {
			continue
		}
		g := f.partGen[k]
		if pu == nil {
			pu = &partUp{}
			s.parts[k] = pu
		}
		delete(f.pending, k)
		if pu.done && pu.gen == g {
			continue
		}
		pu.uploading = true
		s.inflight++
		f.goBg(func() { f.bgUploadPart(s, k, g, ps) })
	}
}

// partReadyLocked reports whether a changed part is complete and local.
func (f *File) partReadyLocked() bool {
	ps := f.partSize()
	for k := range f.pending {
		if (k+1)*ps <= f.size && f.isLocalLocked(k*ps, (k+1)*ps) {
			return true
		}
	}
	return false
}

// bgStart starts a large file for a file still being written.
func (f *File) bgStart(req UploadRequest, mtimeMs int64) {
	f.announceStart(req)
	id, err := f.m.opts.Remote.StartLargeFile(f.bgCtx, req)
	f.mu.Lock()
	f.starting = false
	f.startingMtime = ""
	if err != nil {
		f.startErr = err
		f.mu.Unlock()
		f.m.log.Warn("start streaming upload; the file is uploaded at close instead", "file", req.Name, "err", err)
		return
	}
	if f.detached || f.sess != nil {
		f.mu.Unlock()
		f.cancelLarge(id)
		return
	}
	s := &session{id: id, mtimeMs: mtimeMs, info: extraInfo(req.Info), streamed: true, parts: map[int64]*partUp{}}
	f.sess = s
	if f.m.opts.FastStreamedClose {
		// Its whole-file SHA-1 is not wanted (see uploadLarge): no
		// running hash on the writer's path. Were it needed after all
		// (an mtime set explicitly), a pass over the file computes it.
		f.hash = nil
	}
	f.mu.Unlock()
	// Recorded (durably in write-back mode) before a part is sent: a
	// power cut then leaves a large file recovery can resume or cancel.
	f.recordLarge(id)
	f.mu.Lock()
	s.recorded = true
	f.kickLocked()
	f.mu.Unlock()
}

// bgUploadPart uploads part k (0-based) while the file is being written.
func (f *File) bgUploadPart(s *session, k int64, g uint64, ps int64) {
	ctx := f.bgCtx
	err := f.m.acquire(ctx)
	var sha string
	if err == nil {
		// The part's SHA-1 is computed while it is sent: one read of
		// the staging file per part.
		sha, err = f.m.opts.Remote.UploadPart(ctx, s.id, int(k+1), io.NewSectionReader(f.data, k*ps, ps), ps, "")
		f.m.releaseSlot()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s.inflight--
	pu := s.parts[k]
	pu.uploading = false
	switch {
	case f.partGen[k] != g:
		// Changed while uploading: whatever B2 holds is stale.
		pu.done = false
		f.pending[k] = true
	case err != nil:
		pu.done = false
		f.pending[k] = true
		if s.err == nil && ctx.Err() == nil {
			s.err = err
			f.m.log.Warn("streaming part upload failed; retrying at close", "file", f.key.String(), "part", k+1, "err", err)
		}
	default:
		pu.done, pu.gen, pu.size, pu.sha1 = true, g, ps, sha
	}
	// Once the background context is cancelled (the file detached, the
	// Manager stopping) every new attempt fails at once: starting one
	// would spin.
	if f.sess == s && ctx.Err() == nil {
		f.kickLocked()
	}
}

// upload sends the staged content to B2. Called by Flush with the gate
// closed to writers. ctx is cancelled when the file is detached; commit,
// which only the caller of Flush cancels, carries the calls that make a
// version (an upload or a finish whose answer is lost could leave a
// version nobody knows of).
func (f *File) upload(ctx, commit context.Context) (backend.Object, error) {
	if err := f.waitIdle(ctx); err != nil {
		return backend.Object{}, err
	}
	f.mu.Lock()
	size, mtime, sess := f.size, f.mtime, f.sess
	f.startErr = nil
	f.upSize, f.upMtime = size, mtime
	f.mu.Unlock()
	if size < f.m.opts.UploadCutoff {
		if sess != nil {
			f.cancelLarge(sess.id)
			f.mu.Lock()
			f.sess = nil
			f.mu.Unlock()
		}
		return f.uploadSmall(ctx, commit, size, mtime)
	}
	return f.uploadLarge(ctx, commit, size, mtime)
}

func (f *File) uploadSmall(ctx, commit context.Context, size int64, mtime time.Time) (backend.Object, error) {
	if err := f.fill(ctx, 0, size); err != nil {
		return backend.Object{}, err
	}
	sha, err := f.contentSHA1(size)
	if err != nil {
		return backend.Object{}, err
	}
	f.mu.Lock()
	req := f.requestLocked(mtime, "")
	f.mu.Unlock()
	req.SHA1 = sha
	v, err := f.m.opts.Remote.UploadFile(commit, req, io.NewSectionReader(f.data, 0, size), size)
	if err != nil {
		return backend.Object{}, err
	}
	if v.SHA1 != "" && v.SHA1 != sha {
		return backend.Object{}, fmt.Errorf("uploaded SHA-1 %s, B2 stored %s", sha, v.SHA1)
	}
	return v, nil
}

type partTask struct {
	k    int64
	off  int64
	size int64
	copy bool
}

func (f *File) uploadLarge(ctx, commit context.Context, size int64, mtime time.Time) (backend.Object, error) {
	ps := f.partSize()
	n := (size + ps - 1) / ps

	// A session holding parts past the new end cannot be finished.
	f.mu.Lock()
	sess := f.sess
	restart := false
	if sess != nil {
		sess.err = nil
		for k := range sess.parts {
			if k >= n {
				restart = true
			}
		}
	}
	f.mu.Unlock()
	if restart {
		f.cancelLarge(sess.id)
		f.mu.Lock()
		f.sess = nil
		f.mu.Unlock()
		sess = nil
	}

	// Plan: which parts still need sending, and whether they can be copied
	// from the previous version on the server.
	f.mu.Lock()
	baseID := f.baseID
	var tasks []partTask
	anyCopy := false
	for k := int64(0); k < n; k++ {
		off := k * ps
		sz := min(ps, size-off)
		if sess != nil {
			if pu := sess.parts[k]; pu != nil && pu.done && pu.gen == f.partGen[k] && pu.size == sz {
				continue
			}
		}
		// Unchanged since the base version (gen 0: untouched since it was
		// opened or last uploaded): copy it on the server.
		cp := baseID != "" && off+sz <= f.remoteEnd && f.partGen[k] == 0
		anyCopy = anyCopy || cp
		tasks = append(tasks, partTask{k: k, off: off, size: sz, copy: cp})
	}
	localAll := f.isLocalLocked(0, size)
	f.mu.Unlock()

	if sess == nil {
		// The whole-file SHA-1 goes into the start call: computed when
		// every byte has to be local anyway, or already is.
		wholeSHA := ""
		if !anyCopy || localAll {
			if err := f.fill(ctx, 0, size); err != nil {
				return backend.Object{}, err
			}
			s, err := f.contentSHA1(size)
			if err != nil {
				return backend.Object{}, err
			}
			wholeSHA = s
		}
		f.mu.Lock()
		req := f.requestLocked(mtime, wholeSHA)
		f.mu.Unlock()
		f.announceStart(req)
		id, err := f.m.opts.Remote.StartLargeFile(ctx, req)
		f.mu.Lock()
		f.startingMtime = ""
		f.mu.Unlock()
		if err != nil {
			return backend.Object{}, fmt.Errorf("start large file: %w", err)
		}
		sess = &session{id: id, mtimeMs: mtime.UnixMilli(), sha1: wholeSHA, info: extraInfo(req.Info), parts: map[int64]*partUp{}, recorded: true}
		f.mu.Lock()
		f.sess = sess
		f.mu.Unlock()
		f.recordLarge(id) // before a part is sent (see bgStart)
	}

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(f.m.opts.Concurrency)
	for _, t := range tasks {
		g.Go(func() error {
			if err := f.m.acquire(gctx); err != nil {
				return err
			}
			defer f.m.releaseSlot()
			var sha string
			var err error
			if t.copy {
				sha, err = f.m.opts.Remote.CopyPart(gctx, baseID, sess.id, int(t.k+1), t.off, t.size)
				if err != nil {
					return fmt.Errorf("copy part %d: %w", t.k+1, err)
				}
			} else {
				if err := f.fill(gctx, t.off, t.off+t.size); err != nil {
					return err
				}
				if sha, err = f.m.opts.Remote.UploadPart(gctx, sess.id, int(t.k+1), io.NewSectionReader(f.data, t.off, t.size), t.size, ""); err != nil {
					return fmt.Errorf("upload part %d: %w", t.k+1, err)
				}
			}
			f.mu.Lock()
			sess.parts[t.k] = &partUp{done: true, gen: f.partGen[t.k], size: t.size, sha1: sha}
			f.mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return backend.Object{}, err
	}
	shas := make([]string, n)
	f.mu.Lock()
	for k := int64(0); k < n; k++ {
		shas[k] = sess.parts[k].sha1
	}
	f.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return backend.Object{}, err
	}
	v, err := f.m.opts.Remote.FinishLargeFile(commit, sess.id, shas)
	if err != nil {
		return backend.Object{}, fmt.Errorf("finish large file: %w", err)
	}
	f.mu.Lock()
	f.sess = nil
	f.landed = v.FileID
	localAll = f.isLocalLocked(0, size)
	mtimeSet := f.mtimeSet
	// A mode, owner or xattr change made since the large file started
	// (a resumed one's start info is unknown) is made durable before the
	// flush returns: it is not deferred.
	infoChanged := sess.info == nil || !maps.Equal(sess.info, extraInfo(f.info))
	f.mu.Unlock()

	// A streamed file was started with the time of its first part and no
	// whole-file SHA-1; give the final version the right metadata with a
	// server-side copy. With FastStreamedClose only an explicitly set mtime
	// (cp -a, rsync) is worth the copy.
	if !infoChanged && sess.mtimeMs == mtime.UnixMilli() && (sess.sha1 != "" || !localAll) {
		return v, nil
	}
	if !infoChanged && f.m.opts.FastStreamedClose && (!mtimeSet || sess.mtimeMs == mtime.UnixMilli()) {
		return v, nil
	}
	wholeSHA := sess.sha1
	if wholeSHA == "" && localAll {
		if wholeSHA, err = f.contentSHA1(size); err != nil {
			return backend.Object{}, err
		}
	}
	f.mu.Lock()
	req := f.requestLocked(mtime, wholeSHA)
	if f.deferMeta && !infoChanged {
		f.fixup = req.Info
		f.mu.Unlock()
		return v, nil
	}
	f.mu.Unlock()
	// The content is in B2 (v) before the copy: recorded, so that a
	// crash during the copy does not upload it again.
	f.persist()
	cctx, done := f.m.RecordCopies(commit, f.Key())
	v2, err := f.m.opts.Remote.CopyFileReplaceInfo(cctx, v.FileID, size, req)
	done()
	if err != nil {
		// The bytes are in B2; only the metadata is off: the caller
		// retries with its deferred copy when it takes one.
		f.m.log.Warn("set metadata of streamed upload", "file", req.Name, "err", err)
		if f.deferMeta {
			f.mu.Lock()
			f.fixup = req.Info
			f.mu.Unlock()
		}
		return v, nil
	}
	if err := f.m.opts.Remote.DeleteFileVersion(commit, v.Name, v.FileID); err != nil {
		f.m.log.Warn("delete intermediate version of streamed upload", "file", req.Name, "fileId", v.FileID, "err", err)
	}
	return v2, nil
}

// session is a large file being uploaded.
type session struct {
	id       string
	mtimeMs  int64             // src_last_modified_millis recorded at start
	info     map[string]string // the extra file info recorded at start (nil: unknown)
	sha1     string
	streamed bool // started before Flush, with provisional file info
	recorded bool // the manifest names it (parts may be sent)
	parts    map[int64]*partUp
	inflight int
	err      error // first background upload failure; stops streaming
}

type partUp struct {
	uploading bool
	done      bool
	gen       uint64 // partGen of the uploaded content
	size      int64
	sha1      string
}
