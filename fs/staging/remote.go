package staging

import (
	"context"
	"io"

	"github.com/b2fs/b2fs/b2client"
	"github.com/b2fs/b2fs/fs/backend"
)

// Remote is what staging needs from B2. The b2client adapter (NewB2Remote)
// implements it; it is an interface so the fs layer can stack decorators.
// Every method must be safe for concurrent use and must leave retries of
// transient failures to the implementation.
type Remote interface {
	// Download returns length bytes of the file version fileID starting at
	// off. length > 0.
	Download(ctx context.Context, fileID string, off, length int64) (io.ReadCloser, error)
	// UploadFile uploads size bytes read from r as one file.
	UploadFile(ctx context.Context, req UploadRequest, r io.ReaderAt, size int64) (backend.Object, error)
	// StartLargeFile starts a large file and returns its fileId.
	StartLargeFile(ctx context.Context, req UploadRequest) (string, error)
	// UploadPart uploads part (1-based) of size bytes read from r at 0
	// and returns its SHA-1. With sha1Hex empty the SHA-1 is computed
	// while the part is sent (one pass over r).
	UploadPart(ctx context.Context, largeFileID string, part int, r io.ReaderAt, size int64, sha1Hex string) (string, error)
	// CopyPart copies bytes [off, off+length) of srcFileID as part of a
	// large file and returns the part's SHA-1.
	CopyPart(ctx context.Context, srcFileID, largeFileID string, part int, off, length int64) (string, error)
	// FinishLargeFile finishes a large file from its parts' SHA-1s.
	FinishLargeFile(ctx context.Context, largeFileID string, partSHA1s []string) (backend.Object, error)
	// CancelLargeFile abandons a large file and its parts.
	CancelLargeFile(ctx context.Context, largeFileID string) error
	// CopyFileReplaceInfo copies srcFileID (size bytes) to name with new
	// content type and file info (metadata directive REPLACE).
	CopyFileReplaceInfo(ctx context.Context, srcFileID string, size int64, req UploadRequest) (backend.Object, error)
	// DeleteFileVersion permanently deletes one version.
	DeleteFileVersion(ctx context.Context, name, fileID string) error
}

// UploadRequest describes the file an upload creates.
type UploadRequest struct {
	BucketID    string
	Name        string
	ContentType string
	Info        map[string]string
	// SHA1 is the content's SHA-1 in hex, when known.
	SHA1 string
}

// File-info keys b2fs writes.
const (
	InfoMtime        = b2client.InfoModTime
	InfoLargeFileSHA = b2client.InfoLargeFileSHA1
)
