package staging

import (
	"context"
	"strconv"
)

// copyInfo returns a copy of m (never nil).
func copyInfo(m map[string]string) map[string]string {
	out := make(map[string]string, len(m)+2)
	for k, v := range m {
		out[k] = v
	}
	return out
}

// extraInfo returns the part of a version's file info an upload keeps: all
// but the keys computed for every upload.
func extraInfo(m map[string]string) map[string]string {
	out := copyInfo(m)
	delete(out, InfoMtime)
	delete(out, InfoLargeFileSHA)
	return out
}

// Info returns a copy of the extra file info the next upload carries.
func (f *File) Info() map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return copyInfo(f.info)
}

// SetInfo changes the extra file info with fn when the file has pending
// changes (or is unlinked), so the change is uploaded with them for free;
// absorbed is then true. Otherwise nothing changes and the caller must
// change the B2 version itself (a metadata-replacing copy) and then call
// Rebase with the new version. An error from fn is returned unchanged and
// leaves the info as it was.
func (f *File) SetInfo(ctx context.Context, fn func(info map[string]string) error) (absorbed bool, err error) {
	if err := f.lockMutable(ctx); err != nil {
		return false, err
	}
	if !f.dirty && !f.unlinked {
		f.mu.Unlock()
		return false, nil
	}
	next := copyInfo(f.info)
	if err := fn(next); err != nil {
		f.mu.Unlock()
		return false, err
	}
	f.info = extraInfo(next)
	f.changed = f.m.now()
	f.gen++
	f.mu.Unlock()
	f.persistMeta()
	f.m.noteChange(f)
	return true, nil
}

// ShowInfo changes with fn the extra file info of a clean file that is
// going away (being unlinked or replaced) without making it dirty: the
// change, which will not reach B2, is what the file's open handles show.
// A file with changes to upload takes it as SetInfo does.
func (f *File) ShowInfo(ctx context.Context, fn func(info map[string]string)) error {
	if err := f.lockMutable(ctx); err != nil {
		return err
	}
	absorb := f.dirty || f.unlinked
	next := copyInfo(f.info)
	fn(next)
	f.info = extraInfo(next)
	if absorb {
		f.changed = f.m.now()
		f.gen++
	}
	f.mu.Unlock()
	if absorb {
		f.persistMeta()
		f.m.noteChange(f)
	}
	return nil
}

// VersionInfo returns the complete file info of the file as its next (or,
// when it is clean, its current) B2 version has it: the extra info, the
// mtime and, when the content is the uploaded one, large_file_sha1.
func (f *File) VersionInfo() map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := copyInfo(f.info)
	out[InfoMtime] = strconv.FormatInt(f.mtime.UnixMilli(), 10)
	if !f.dirty && f.baseLargeSHA != "" {
		out[InfoLargeFileSHA] = f.baseLargeSHA
	}
	return out
}
