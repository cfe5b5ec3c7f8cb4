package fs

import (
	"context"
	"errors"
	"io"
	"strconv"
	"time"
)

// Backend is what the filesystem needs from B2. The production
// implementation (NewB2Backend) adapts *b2client.Client; decorators (metrics,
// logging, fault injection in tests) wrap it.
//
// Errors must wrap one of the sentinel errors below when they mean one of
// those things (errors.Is), so the filesystem can map them to errno values
// without knowing the client.
type Backend interface {
	// ListBuckets returns the buckets the credentials may see, sorted by
	// name.
	ListBuckets(ctx context.Context) ([]Bucket, error)
	// ListDir returns one page of the names in bucket starting with prefix,
	// rolled up at "/" (folder entries), starting at startName (inclusive;
	// "" for the first page), at most max entries. Page.Next is "" after the
	// last page.
	ListDir(ctx context.Context, bucket Bucket, prefix, startName string, max int) (Page, error)
	// OpenRange streams length bytes of the file version fileID starting at
	// off. length is > 0 and off+length does not exceed the file's size.
	OpenRange(ctx context.Context, bucket Bucket, fileID string, off, length int64) (io.ReadCloser, error)
}

// Bucket names a bucket.
type Bucket struct {
	ID   string
	Name string
}

// Object is one entry of a listing page.
type Object struct {
	// Name is the full B2 name; folder entries end with "/".
	Name string
	// Folder marks a folder entry (roll-up of names under Name).
	Folder      bool
	FileID      string
	Size        int64
	ContentType string
	SHA1        string
	Uploaded    time.Time
	Info        map[string]string
}

// Page is one page of a listing.
type Page struct {
	Objects []Object
	Next    string
}

// Sentinel errors a Backend wraps.
var (
	ErrNotFound     = errors.New("not found")
	ErrPermission   = errors.New("permission denied")
	ErrCapExceeded  = errors.New("cap exceeded")
	ErrNameTooLong  = errors.New("name too long")
	ErrInvalidName  = errors.New("invalid name")
	ErrReadOnly     = errors.New("read-only file system")
	ErrRangeInvalid = errors.New("range not satisfiable")
)

// ModTime returns the object's modification time: the
// src_last_modified_millis file info when present and valid, else the upload
// time.
func (o Object) ModTime() time.Time {
	if v, ok := o.Info["src_last_modified_millis"]; ok {
		if ms, err := strconv.ParseInt(v, 10, 64); err == nil && ms >= 0 {
			return time.UnixMilli(ms)
		}
	}
	return o.Uploaded
}

var errPaging = errors.New("listing did not terminate")

// TreeLister is implemented by backends that can list a whole subtree: one
// page of every name starting with prefix, without a delimiter (no folder
// entries), in UTF-8 byte order, starting at startName (inclusive; "" for
// the first page), at most max entries. Page.Next is "" after the last
// page. The filesystem prefetches directory trees with it when available.
type TreeLister interface {
	ListTree(ctx context.Context, bucket Bucket, prefix, startName string, max int) (Page, error)
}
