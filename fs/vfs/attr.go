package vfs

import "time"

// Attr is the attributes of a file or directory, as stat(2) shows them.
type Attr struct {
	Mode    uint32 // file type (syscall.S_IF*) and permission bits
	Size    uint64
	Blocks  uint64 // 512-byte blocks
	Blksize uint32
	Nlink   uint32
	Uid     uint32
	Gid     uint32
	Rdev    uint32 // device number of a device file (the kernel's encoding)
	Atime   time.Time
	Mtime   time.Time
	Ctime   time.Time
	// Unsure: the directory's own metadata (kept on its marker) was not
	// known when the attributes were made; ask again (Dir.Attr) rather
	// than keep them.
	Unsure bool
}

// SetTimes sets the times that are not nil.
func (a *Attr) SetTimes(atime, mtime, ctime *time.Time) {
	if atime != nil {
		a.Atime = *atime
	}
	if mtime != nil {
		a.Mtime = *mtime
	}
	if ctime != nil {
		a.Ctime = *ctime
	}
}

// SetAttr is a change of attributes (chmod, chown, truncate, utimes):
// the fields that are not nil change.
type SetAttr struct {
	Mode  *uint32 // permission bits
	UID   *uint32
	GID   *uint32
	Size  *uint64
	Mtime *time.Time
}

// GetMode returns the permission bits to set, if any.
func (s *SetAttr) GetMode() (uint32, bool) { return get(s.Mode) }

// GetUID returns the owner to set, if any.
func (s *SetAttr) GetUID() (uint32, bool) { return get(s.UID) }

// GetGID returns the group to set, if any.
func (s *SetAttr) GetGID() (uint32, bool) { return get(s.GID) }

// GetSize returns the size to truncate to, if any.
func (s *SetAttr) GetSize() (uint64, bool) { return get(s.Size) }

// GetMTime returns the modification time to set, if any.
func (s *SetAttr) GetMTime() (time.Time, bool) { return get(s.Mtime) }

func get[T any](p *T) (T, bool) {
	if p == nil {
		var zero T
		return zero, false
	}
	return *p, true
}

// Statfs is what statfs(2) reports.
type Statfs struct {
	Bsize, Frsize         uint32
	Blocks, Bfree, Bavail uint64
	Files, Ffree          uint64
	NameLen               uint32
}
