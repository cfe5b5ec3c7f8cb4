package staging

import (
	"context"
	"fmt"
)

// Resuming a cut large-file upload (write-back mode): a manifest that
// names an unfinished large file keeps it at recovery, and the parts B2
// already has with the right size and SHA-1 are not sent again.

// Part is a part of an unfinished large file.
type Part struct {
	Number int // 1-based
	Size   int64
	SHA1   string
}

// PartLister is implemented by Remotes that list the parts of an
// unfinished large file (b2_list_parts).
type PartLister interface {
	ListParts(ctx context.Context, largeFileID string) ([]Part, error)
}

// resume makes the unfinished large file id f's upload session, with the
// parts B2 has that match the staged content marked done. It returns an
// error (and leaves f without a session) when that cannot be done; the
// caller then cancels the large file.
func (f *File) resume(ctx context.Context, id string) error {
	pl, ok := f.m.opts.Remote.(PartLister)
	if !ok {
		return fmt.Errorf("the remote cannot list parts")
	}
	parts, err := pl.ListParts(ctx, id)
	if err != nil {
		return err
	}
	f.mu.Lock()
	size := f.size
	f.mu.Unlock()
	ps := f.partSize()
	n := (size + ps - 1) / ps
	if size < f.m.opts.UploadCutoff {
		return fmt.Errorf("now a small file")
	}
	sess := &session{id: id, streamed: true, parts: map[int64]*partUp{}, recorded: true}
	kept := 0
	for _, p := range parts {
		k := int64(p.Number - 1)
		if k < 0 || k >= n {
			// A part past the end cannot be finished with the others.
			return fmt.Errorf("part %d is past the end", p.Number)
		}
		want := min(ps, size-k*ps)
		if p.Size != want {
			continue
		}
		sha, err := f.sectionSHA1(k*ps, want)
		if err != nil || sha != p.SHA1 {
			continue // sent again under the same number
		}
		f.mu.Lock()
		sess.parts[k] = &partUp{done: true, gen: f.partGen[k], size: want, sha1: sha}
		f.mu.Unlock()
		kept++
	}
	f.mu.Lock()
	f.sess = sess
	f.mu.Unlock()
	f.persistMeta() // the manifest names the large file again
	f.m.log.Info("resuming a cut large-file upload of an earlier run", "file", f.Key().String(), "parts_kept", kept, "parts", n)
	return nil
}
