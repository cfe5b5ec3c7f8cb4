package vfs

import (
	"github.com/b2fs/b2fs/cache"
	"github.com/b2fs/b2fs/fs/posixmeta"
)

// POSIX metadata lives in each file's B2 file info (package posixmeta has
// the keys and their encoding); these are its names in this package.
const (
	InfoMode   = posixmeta.InfoMode
	InfoUID    = posixmeta.InfoUID
	InfoGID    = posixmeta.InfoGID
	InfoType   = posixmeta.InfoType
	InfoTarget = posixmeta.InfoTarget

	typeSymlink = posixmeta.TypeSymlink

	xattrKeyPrefix  = posixmeta.XattrKeyPrefix
	xattrHashPrefix = posixmeta.XattrHashPrefix
	xattrUser       = posixmeta.XattrUser

	maxInfoEntries = posixmeta.MaxInfoEntries
	maxInfoBytes   = posixmeta.MaxInfoBytes
	maxInfoKeyLen  = posixmeta.MaxInfoKeyLen
	maxSymlinkLen  = posixmeta.MaxSymlinkLen
)

var (
	errInfoFull = posixmeta.ErrInfoFull
	errInfoBig  = posixmeta.ErrInfoBig
)

type posixMeta = posixmeta.Meta

func parseMeta(info map[string]string) posixMeta { return posixmeta.Parse(info) }
func parseEntryMeta(e cache.Entry) posixMeta     { return posixmeta.ParseEntry(e) }
func isSymlink(e cache.Entry) bool               { return posixmeta.IsSymlink(e) }
func entryType(e cache.Entry) uint32             { return posixmeta.EntryType(e) }
func setOwnerMode(info map[string]string, mode, uid, gid uint32) {
	posixmeta.SetOwnerMode(info, mode, uid, gid)
}
func escapeBytes(s string) string            { return posixmeta.EscapeBytes(s) }
func unescapeBytes(s string) (string, error) { return posixmeta.UnescapeBytes(s) }
func xattrKey(name string) (string, bool)    { return posixmeta.XattrKey(name) }
func xattrValue(name string, value []byte, hashed bool) string {
	return posixmeta.XattrValue(name, value, hashed)
}
func getXattr(info map[string]string, name string) ([]byte, bool) {
	return posixmeta.GetXattr(info, name)
}
func listXattrs(info map[string]string) []string        { return posixmeta.ListXattrs(info) }
func infoBytes(name string, info map[string]string) int { return posixmeta.InfoBytes(name, info) }
func checkInfoFits(name string, info map[string]string, entry string) error {
	return posixmeta.CheckInfoFits(name, info, entry)
}
func infoEqual(a, b map[string]string) bool           { return posixmeta.InfoEqual(a, b) }
func cloneInfo(m map[string]string) map[string]string { return posixmeta.CloneInfo(m) }
