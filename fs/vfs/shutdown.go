package vfs

// StopWrites makes every change that starts from now on fail with EROFS:
// opening a file for writing, creating, removing and renaming. Handles that
// are already open for writing keep working, so that a writer in the middle
// of a file can finish and close it (and its upload completes). b2fs calls
// it when it is asked to stop, before unmounting.
func (f *FS) StopWrites() {
	if !f.stopped.Swap(true) {
		f.log.Info("no longer accepting new writes (EROFS) while stopping")
	}
}
