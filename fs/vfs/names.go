package vfs

import (
	"github.com/b2fs/b2fs/cache"
	"github.com/b2fs/b2fs/fs/listing"
)

// Names in b2fs (directory prefixes, B2 names and their encoding) are
// package listing's; these are its names here.

// EmptyMarker is the name of the zero-length file that makes an otherwise
// empty B2 "folder" exist. It keeps its directory listed but is never shown.
const EmptyMarker = listing.EmptyMarker

const (
	nameMax    = listing.NameMax
	maxSegment = listing.MaxSegment
	bucketsKey = listing.BucketsKey
)

func normPrefix(p string) string                        { return listing.NormPrefix(p) }
func childName(dir, name string) string                 { return listing.ChildName(dir, name) }
func childDir(dir, name string) string                  { return listing.ChildDir(dir, name) }
func localName(seg string) (string, bool)               { return listing.LocalName(seg) }
func b2Seg(name string) string                          { return listing.B2Seg(name) }
func validNewName(prefix, name string) error            { return listing.ValidNewName(prefix, name) }
func entryFromObject(name string, o Object) cache.Entry { return listing.EntryFromObject(name, o) }
func sortEntries(es []cache.Entry)                      { listing.SortEntries(es) }
func dirKey(b Bucket, prefix string) string             { return listing.DirKey(b, prefix) }
func markerKey(b Bucket, prefix string) string          { return listing.MarkerKey(b, prefix) }

// DirKey is the metadata cache key of directory prefix of b (its listing).
func DirKey(b Bucket, prefix string) string { return listing.DirKey(b, prefix) }

// ChildName is the B2 name of name (a local name) in directory prefix: its
// segment encoded as B2 stores it.
func ChildName(prefix, name string) string { return listing.ChildName(prefix, name) }

// ChildDir is the prefix of subdirectory name of directory prefix.
func ChildDir(prefix, name string) string { return listing.ChildDir(prefix, name) }
