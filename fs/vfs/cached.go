package vfs

// The persistent read cache (Options.ReadCache, package fs/readcache) sits
// under every read handle's ranged reads (File.Open wraps the fetch
// function); the FUSE adapter opens versions entirely in it with FUSE
// passthrough.

// keptRekey records that version newID, a server-side copy of oldID made
// by this mount (rename, metadata change), has oldID's content; oldID is
// gone.
func (f *FS) keptRekey(oldID, newID string) {
	f.opts.ReadCache.Alias(oldID, newID, true)
}

// keptForget drops version id from the read cache.
func (f *FS) keptForget(id string) {
	f.opts.ReadCache.Forget(id)
}
