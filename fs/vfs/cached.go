package vfs

import (
	"github.com/b2fs/b2fs/cache"
	"github.com/b2fs/b2fs/fs/readcache"
	"github.com/b2fs/b2fs/fs/staging"
)

// The persistent read cache (Options.ReadCache, package fs/readcache) sits
// under every read handle's ranged reads (File.Open wraps the fetch
// function); the FUSE adapter opens versions entirely in it with FUSE
// passthrough.

// ContentSHA1 returns B2's SHA-1 of the content of version e (its content
// SHA-1, or for a large file its large_file_sha1), "" when B2 has none.
func ContentSHA1(e cache.Entry) string {
	if s := readcache.ValidSHA1(e.SHA1); s != "" {
		return s
	}
	v, _ := e.InfoValue(staging.InfoLargeFileSHA)
	return readcache.ValidSHA1(v)
}

// keptRekey records that version newID, a server-side copy of oldID made
// by this mount (rename, metadata change), has oldID's content; oldID is
// gone.
func (f *FS) keptRekey(oldID, newID string) {
	f.opts.ReadCache.Alias(oldID, newID)
}

// keptForget drops version id from the read cache.
func (f *FS) keptForget(id string) {
	f.opts.ReadCache.Forget(id)
}
