// Package b2client is a Backblaze B2 Native API client built for a
// filesystem: ranged streaming downloads that resume after a broken
// connection, single and multi-part uploads with SHA-1 verification, a
// streaming Writer with bounded memory, server-side copies, paginated
// listings, and typed errors. It uses only the standard library and
// golang.org/x/sync, and knows nothing of FUSE or errno values.
//
// # Session
//
// New calls b2_authorize_account (API v3) on Config.Endpoint and keeps the
// returned account: apiUrl, downloadUrl, part sizes, capabilities and the
// key's bucket and name-prefix restrictions (see Account). Every later call
// uses v3 URLs of the form <apiUrl>/b2api/v3/<name> with the raw token in the
// Authorization header. A 401 from b2_authorize_account means the credentials
// were rejected (ErrCredentialsRejected) and is never retried.
// RequireCapabilities lets a caller refuse early when the key lacks what it
// needs.
//
// # Errors
//
// B2 failures are *Error values carrying the HTTP status, B2's code and
// message, and the API name; use errors.As or the helpers IsNotFound,
// IsUnauthorized, IsCapExceeded, IsStorageCapExceeded, IsRangeNotSatisfiable,
// IsAlreadyHidden, IsRetryable. Problems detected locally wrap
// ErrInvalidArgument, ErrChecksumMismatch or ErrUnexpectedResponse.
//
// # Retry policy
//
// Each call makes at most Config.MaxAttempts attempts (default 5):
//
//   - 408, 429, 500, 502, 503, 504 and network errors (refused or reset
//     connections, timeouts, truncated bodies) are retried after an
//     exponential back-off from MinBackoff to MaxBackoff with jitter
//     (each wait is uniform in [d/2, d]); a Retry-After header sets a
//     minimum wait. Waits end early when the context is cancelled.
//   - Tokens older than 23 hours are renewed before use (B2 tokens live at
//     most 24 hours), through the same shared re-authorization.
//   - 401 bad_auth_token / expired_auth_token re-authorize and retry at once.
//     Re-authorization is shared: callers that failed with token generation
//     N wait for the single b2_authorize_account producing generation N+1,
//     and a caller that arrives after it completed simply uses it, so a
//     stale token never causes two re-authorizations.
//   - Uploads (b2_upload_file, b2_upload_part) drop their upload URL after
//     any failure and fetch a new one for the next attempt; the upload token
//     is never reused after an error. Any 401 on an upload and 400
//     auth_token_limit are retried that way too, and a SHA-1 mismatch (the
//     body was corrupted on the way) once.
//   - Every other 4xx (bad requests, 401 unauthorized, 403 caps, 404, 416)
//     fails at once.
//   - A request whose body cannot be re-read is not retried once bytes of it
//     were sent (UploadStream).
//   - b2_finish_large_file that fails ambiguously (5xx, timeout) is checked
//     with b2_get_file_info; a finished file counts as success.
//
// # Concurrency model
//
// A Client is safe for concurrent use. No lock is held across a network call:
// the session is an immutable value swapped under a mutex, and upload URLs
// live in pools (per bucket, and per large file for parts) from which each
// upload takes one URL exclusively and returns it only after a success, so
// one URL never serves two uploads at once. At most Config.UploadURLPoolSize
// idle URLs are kept per pool.
//
// Large uploads and copies use an errgroup limited to
// LargeFileOptions.Concurrency workers; UploadLargeFile reads parts straight
// from its io.ReaderAt, and Writer holds at most Concurrency+1 part buffers,
// so memory is bounded by (Concurrency+1) × PartSize. Every blocking call
// takes a context; cancelling it stops the transfer and, for large files,
// cancels the unfinished file in B2 with a fresh short-lived context (a
// Writer needs Close or Abort for that; CancelUnfinishedLargeFiles cleans up
// what a crashed process left behind). The
// only goroutines the client starts besides those workers are the single
// shared re-authorization and the HTTP transport's own.
//
// # Encoding
//
// File names and file info values travel percent-encoded (PercentEncode,
// PercentDecode): A–Z a–z 0–9 - . _ ~ / literal, every other byte %XX, "+"
// decoded as a space. File info keys are lower-cased and validated (charset,
// 50 bytes, 10 entries, 7000-byte header budget) before anything is sent.
package b2client
