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
// B2 fixes a large file's info when it is started, before the content of a
// streaming writer is known; such a file gets its final
// src_last_modified_millis and large_file_sha1 through a metadata-replacing
// server-side copy, made at Flush or, with FlushDeferMeta, left to the
// caller (File.TakeMetaFixup) so that it returns once the data is in B2 (Options.FastStreamedClose leaves out the SHA-1 and keeps only an
// explicitly set time). The whole-file SHA-1
// of a sequential writer is computed while it writes, so no extra pass over
// the data is needed.
//
// With Options.WriteBack, close is File.Commit instead: the content, its
// manifest and their directory entries are fsynced (durable.go), and a
// bounded background uploader sends the file after a delay, retrying
// failures (writeback.go); renames and removals of files that were never
// uploaded only change their manifests (namespace.go). The staging
// directory's file I/O goes through a FileSystem (osfs.go), which tests
// replace with one that forgets what was not fsynced.
//
// If an upload fails, Flush returns the error, the staged data stays on disk
// and the manifest records the state "failed", so nothing is dropped; the
// Manager keeps the file so that a later Flush retries it. Each Manager works
// in its own flock(2)ed instance directory; Recover adopts (or, on conflict,
// keeps and reports) the staged files of instances whose process is gone. A
// write first marks the manifest unsettled, so recovery knows whether the
// recorded ranges can be trusted. Emptied staging files are pooled and
// reused: creating inodes is the main local cost of small files.
//
// LOCK ORDER (per File): hookMu, then flushMu, then manifestMu, then mu;
// hookMu is also taken before Manager.mu (the upload hook looks files up).
// hookMu is held across a background upload and its hook, and across a
// metadata change of the file (File.Hold, which may copy its uploaded
// version on the server), on purpose: neither may land inside the other. mu is never held
// across a network call; flushMu serialises uploads of one file and is held
// across them on purpose (it is what makes two concurrent Flush calls upload
// once). Manager.mu is taken before File.mu (Release, Detach, Pending), never
// while holding it; Manager.spareMu is a leaf (taken under manifestMu or
// Manager.mu, nothing under it). Manager.checkMu (conflict checks) is
// taken with the checked file's hookMu held, and is held across one list
// call on purpose (the next check finds its answer); under it writeBack.mu
// and File.mu are taken, one at a time.
package staging
