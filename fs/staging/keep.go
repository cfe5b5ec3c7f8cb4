package staging

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
