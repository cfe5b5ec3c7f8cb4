package b2client

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// Error is a failure reported by B2 (or synthesized from an HTTP status when
// the response carried no B2 error body, e.g. a HEAD request or a proxy
// error). Use errors.As to get at it, or the Is* helpers.
type Error struct {
	// Status is the HTTP status code.
	Status int
	// Code is B2's short machine-readable code, e.g. "not_found".
	Code string
	// Message is for humans only; never switch on it.
	Message string
	// API is the B2 call that failed, e.g. "b2_upload_file".
	API string
	// RetryAfter is the server's Retry-After value, if it sent one.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = "(no message)"
	}
	return fmt.Sprintf("b2 %s: %d %s: %s", e.API, e.Status, e.Code, msg)
}

// Sentinel errors, wrapped with details by the calls that return them.
var (
	// ErrInvalidArgument reports a request rejected locally before any network
	// call (bad file info key, too many info entries, negative size...).
	ErrInvalidArgument = errors.New("b2client: invalid argument")
	// ErrChecksumMismatch reports bytes whose SHA-1 differs from the one B2
	// reported or was given.
	ErrChecksumMismatch = errors.New("b2client: SHA-1 mismatch")
	// ErrCredentialsRejected reports that b2_authorize_account refused the key
	// (any 401). It is never retried.
	ErrCredentialsRejected = errors.New("b2client: credentials rejected")
	// ErrWriterClosed is returned by Writer methods after Close or Abort.
	ErrWriterClosed = errors.New("b2client: writer closed")
	// ErrMissingCapability reports a key without a capability the caller
	// needs (see Client.RequireCapabilities).
	ErrMissingCapability = errors.New("b2client: application key lacks capabilities")
	// ErrUnexpectedResponse reports a response that does not match what was
	// asked for (a Content-Range for other bytes, a body of the wrong size).
	ErrUnexpectedResponse = errors.New("b2client: unexpected response")
)

func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// IsNotFound reports whether err means the file, version or bucket does not
// exist: 404, or the 400 codes B2 uses for unknown files and buckets.
func IsNotFound(err error) bool {
	e := asError(err)
	if e == nil {
		return false
	}
	if e.Status == 404 {
		return true
	}
	if e.Status != 400 {
		return false
	}
	switch e.Code {
	case "file_not_present", "no_such_file", "bad_bucket_id", "invalid_bucket_id", "not_found":
		return true
	case "bad_request":
		// Legacy hints (reference §10.2): only when the code is generic.
		m := e.Message
		return strings.HasPrefix(m, "Invalid bucketId") ||
			(strings.HasPrefix(m, "Bucket ") && strings.Contains(m, "does not exist")) ||
			strings.HasPrefix(m, "File not present") ||
			strings.HasPrefix(m, "Invalid fileId") ||
			strings.Contains(m, "file_state_deleted") || strings.Contains(m, "file_state_none")
	}
	return false
}

// IsUnauthorized reports whether err means the key is not allowed to do this
// (401 unauthorized, 403 access_denied) or the credentials were rejected.
// Expired or bad tokens are handled internally by re-authorizing and are not
// reported by IsUnauthorized unless re-authorization itself failed.
func IsUnauthorized(err error) bool {
	if errors.Is(err, ErrCredentialsRejected) || errors.Is(err, ErrMissingCapability) {
		return true
	}
	e := asError(err)
	if e == nil {
		return false
	}
	return (e.Status == 401 && e.Code != "bad_auth_token" && e.Code != "expired_auth_token") ||
		(e.Status == 403 && e.Code == "access_denied")
}

// IsCapExceeded reports a 403 storage, transaction or download cap.
func IsCapExceeded(err error) bool {
	e := asError(err)
	return e != nil && e.Status == 403 && strings.HasSuffix(e.Code, "cap_exceeded")
}

// IsStorageCapExceeded reports a 403 storage cap (ENOSPC/EDQUOT territory).
func IsStorageCapExceeded(err error) bool {
	e := asError(err)
	return e != nil && e.Status == 403 && (e.Code == "storage_cap_exceeded" || e.Code == "cap_exceeded")
}

// IsRangeNotSatisfiable reports a 416: the range starts at or after the end
// of the file (treat as EOF).
func IsRangeNotSatisfiable(err error) bool {
	e := asError(err)
	return e != nil && e.Status == 416
}

// IsAlreadyHidden reports b2_hide_file on a name whose newest version is
// already a hide marker.
func IsAlreadyHidden(err error) bool {
	e := asError(err)
	return e != nil && e.Status == 400 && e.Code == "already_hidden"
}

// IsDuplicateBucketName reports a bucket name already taken (by anyone).
func IsDuplicateBucketName(err error) bool {
	e := asError(err)
	return e != nil && e.Status == 400 && e.Code == "duplicate_bucket_name"
}

// IsBucketNotEmpty reports b2_delete_bucket on a bucket that holds files.
func IsBucketNotEmpty(err error) bool {
	e := asError(err)
	return e != nil && e.Status == 400 && e.Code == "cannot_delete_non_empty_bucket"
}

// IsRetryable reports whether err is a transient failure the client retries
// (and has given up on if it is returned from a call): 408, 429, 500, 502,
// 503, 504 and network errors.
func IsRetryable(err error) bool {
	if e := asError(err); e != nil {
		return retryableStatus(e.Status)
	}
	return isNetworkError(err)
}

func retryableStatus(s int) bool {
	switch s {
	case 408, 429, 500, 502, 503, 504:
		return true
	}
	return false
}

// isTokenError reports a 401 that re-authorizing fixes.
func isTokenError(err error) bool {
	e := asError(err)
	return e != nil && e.Status == 401 && (e.Code == "bad_auth_token" || e.Code == "expired_auth_token")
}

// isNetworkError reports transport failures: resets, refused connections,
// timeouts, truncated bodies. Context cancellation is not one.
func isNetworkError(err error) bool {
	if err == nil || errors.Is(err, errCtxDone) {
		return false
	}
	if asError(err) != nil {
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return true
	}
	if errors.Is(err, errTransport) {
		return true
	}
	return false
}

// errTransport marks an error from the HTTP round trip or from reading a
// response body (wrapped together with the cause).
var errTransport = errors.New("transport error")

// errCtxDone marks an error caused by the caller's context.
var errCtxDone = errors.New("context done")

type transportError struct{ err error }

func (t *transportError) Error() string { return t.err.Error() }
func (t *transportError) Unwrap() []error {
	return []error{t.err, errTransport}
}
