// Package backend defines what the filesystem needs from B2: the narrow
// interfaces (Backend for reads and listings, TreeLister, WriteBackend for
// namespace changes, InfoPutter and VersionDeleter), the values they carry
// (Bucket, Object, Page, CopyMeta) and the errors they wrap. Package
// b2backend implements every one of them over b2client; package fstest
// has in-memory fakes.
package backend

import (
	"context"
	"errors"
	"io"
	"strconv"
	"time"

	"github.com/b2fs/b2fs/b2client"
	"github.com/b2fs/b2fs/fs/errs"
)

// Backend is what the filesystem needs from B2 to read. The production
// implementation (package b2backend) adapts *b2client.Client; decorators (metrics,
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
	// Hidden marks a hide marker (version listings only): the name was
	// deleted at Uploaded.
	Hidden bool
}

// Page is one page of a listing.
type Page struct {
	Objects []Object
	Next    string
}

// Errors a Backend wraps (errors.Is), so the filesystem maps them without
// knowing the client: the kinds of package errs, and ErrRangeInvalid.
var (
	ErrNotFound     = errs.ErrNotExist
	ErrPermission   = errs.ErrAccess
	ErrCapExceeded  = errs.ErrNoSpace
	ErrNameTooLong  = errs.ErrNameTooLong
	ErrInvalidName  = errs.ErrInvalid
	ErrReadOnly     = errs.ErrReadOnly
	ErrRangeInvalid = errors.New("range not satisfiable")
)

// ModTime returns the object's modification time: the
// src_last_modified_millis file info when present and valid, else the upload
// time.
func (o Object) ModTime() time.Time {
	if v, ok := o.Info[b2client.InfoModTime]; ok {
		if ms, err := strconv.ParseInt(v, 10, 64); err == nil && ms >= 0 {
			return time.UnixMilli(ms)
		}
	}
	return o.Uploaded
}

// TreeLister is implemented by backends that can list a whole subtree: one
// page of every name starting with prefix, without a delimiter (no folder
// entries), in UTF-8 byte order, starting at startName (inclusive; "" for
// the first page), at most max entries. Page.Next is "" after the last
// page. The filesystem prefetches directory trees with it when available.
type TreeLister interface {
	ListTree(ctx context.Context, bucket Bucket, prefix, startName string, max int) (Page, error)
}

// WriteBackend is what the write path needs from B2 besides uploads of
// staged files (see package staging).
type WriteBackend interface {
	// PutEmpty uploads a zero-length file (directory markers).
	PutEmpty(ctx context.Context, bucket Bucket, name string) (Object, error)
	// Hide hides name (B2's soft delete); a name that is already gone is
	// not an error.
	Hide(ctx context.Context, bucket Bucket, name string) error
	// DeleteAll deletes every version of name, hide markers included.
	DeleteAll(ctx context.Context, bucket Bucket, name string) error
	// Copy copies the version src.FileID (src.Size bytes) to dstName in
	// dst. With meta non-nil the copy gets meta's content type and info
	// instead of the source's.
	Copy(ctx context.Context, src Object, dst Bucket, dstName string, meta *CopyMeta) (Object, error)
	// ListAll lists every visible file whose name starts with prefix (no
	// delimiter), at most limit+1 of them, sorted by name.
	ListAll(ctx context.Context, bucket Bucket, prefix string, limit int) ([]Object, error)
	// CreateBucket creates a private bucket.
	CreateBucket(ctx context.Context, name string) (Bucket, error)
	// DeleteBucket deletes an empty bucket.
	DeleteBucket(ctx context.Context, bucket Bucket) error
}

// CopyMeta is the metadata a metadata-replacing copy sets.
type CopyMeta struct {
	ContentType string
	Info        map[string]string
}

// InfoPutter uploads a small object with file info (symlinks, directory
// markers carrying metadata).
type InfoPutter interface {
	PutInfo(ctx context.Context, bucket Bucket, name, contentType string, info map[string]string, body []byte) (Object, error)
}

// VersionDeleter deletes one version of a name (the version a metadata
// change replaced, with --hard-delete); a version already gone is not an
// error.
type VersionDeleter interface {
	DeleteVersion(ctx context.Context, bucket Bucket, name, fileID string) error
}
