// Package staging holds files that are open for writing in a local cache
// directory and uploads them to B2 when the writer flushes or syncs.
//
// A staged file is a sparse local file plus a small JSON manifest beside it.
// An existing B2 file is not downloaded when it is opened for writing: the
// staged file records which byte ranges are present locally (written by the
// user or fetched on demand) and which are still only in B2, and fetches a
// range only when a reader needs it or when the upload needs the bytes.
//
// Uploads happen in File.Flush (close) and File.Sync (fsync): when they
// return nil the data is in B2. Files below the upload cutoff go up with one
// b2_upload_file; larger files go up as a B2 large file whose parts are
// uploaded concurrently. A sequential writer of a big file streams: every
// part that is complete locally starts uploading while the writer keeps
// writing, so Flush waits only for the tail. A later write to a part that was
// already uploaded marks it for re-upload under the same part number.
// Parts that are unchanged from the file's previous version are copied on
// the server (b2_copy_part) instead of being downloaded and uploaded again.
//
// Memory does not grow with file size or the number of open files: parts are
// read straight from the staging file, and a Manager-wide semaphore bounds
// the number of parts in flight.
//
// If an upload fails, Flush returns the error, the staged data stays on disk
// and the manifest records the state "failed", so nothing is dropped; the
// Manager keeps the file so that a later Flush retries it and a crash
// recovery step can find it.
//
// LOCK ORDER (per File): flushMu, then manifestMu, then mu. mu is never held
// across a network call; flushMu serialises uploads of one file and is held
// across them on purpose (it is what makes two concurrent Flush calls upload
// once). Manager.mu is taken only without any File lock held, or after
// File.mu is released.
package staging
