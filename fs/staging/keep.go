package staging

import (
	"errors"
	"io"
	"os"
)

// After an upload, the content of a file uploaded from this mount is handed
// to the read cache (Options.Keep, package fs/readcache), which hard links
// the data file under the new file ID, so that reading the file back needs
// no download. Only clean files whose content is entirely local are handed
// over (never a partial overwrite of a file whose other bytes are only in
// B2). The staging area never holds anything to upload there.
//
// Older versions of b2fs kept these files in <instance>/kept/; that
// directory is removed at Close and, for instances that died, by Recover.

const keptDirName = "kept"

// Keeper takes over the content of uploaded files (the read cache).
type Keeper interface {
	// Adopt takes the content of version fileID (size bytes) from path,
	// which the caller removes afterwards; false when it is not kept.
	Adopt(fileID string, size int64, path string) bool
	// Shrink frees the disk space the keeper uses; false when it held
	// nothing.
	Shrink() bool
}

// keptSource is a Keeper that can serve a version it holds whole (the read
// cache does): bytes of a base version that this mount uploaded, or read
// whole, are then taken from it instead of being downloaded (appending to
// a file, such as git's logs, costs no download).
type keptSource interface {
	// OpenComplete returns version id (size bytes) opened read-only when
	// it holds all of it, verified ("" sha1hex: no SHA-1 to check).
	OpenComplete(id string, size int64, sha1hex string) (*os.File, bool)
}

// readKept fills buf with the bytes at off of version id (size bytes)
// from the keeper; false when it does not hold them.
func (m *Manager) readKept(id string, size int64, buf []byte, off int64) bool {
	ks, ok := m.keep.(keptSource)
	if !ok || size <= 0 || off+int64(len(buf)) > size {
		return false
	}
	fd, ok := ks.OpenComplete(id, size, "")
	if !ok {
		return false
	}
	defer fd.Close()
	_, err := fd.ReadAt(buf, off)
	return err == nil || (errors.Is(err, io.EOF) && off+int64(len(buf)) == size)
}
