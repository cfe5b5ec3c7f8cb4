// Package vfs is b2fs's filesystem without the kernel: directories, files
// and open handles over B2, with Go errors of one vocabulary (package
// errs). It imports no FUSE package; the go-fuse adapter (package fs)
// converts its arguments and results, and is the only place errors become
// errno values. Tests drive it directly, with fakes of the backend
// (package fstest) or b2emu, in the same process.
//
// # Entry points
//
//	fsys, err := vfs.New(vfs.Options{Backend: be, Cache: c, Bucket: b,
//		Write: vfs.WriteOptions{Staging: st, Backend: wb}})
//	root := fsys.Root()              // *vfs.Dir (a bucket mount) or *vfs.Account
//	d := root.(*vfs.Dir)
//
//	n, err := d.Lookup(ctx, name)    // *vfs.Dir or *vfs.File
//	sub, err := d.Mkdir(ctx, name, 0o755)
//	f, h, err := d.Create(ctx, name, syscall.O_WRONLY|syscall.O_CREAT, 0o644)
//	f, err := d.Symlink(ctx, target, name)
//	f, err := d.Mknod(ctx, name, syscall.S_IFREG|0o644, 0)
//	err = d.Rename(ctx, name, newDir, newName, vfs.RenameNoReplace) // flags of renameat2(2)
//	err = d.Unlink(ctx, name)
//	err = d.Rmdir(ctx, name)
//	err = d.Link(ctx, target, name)  // always errs.ErrPerm: B2 has no hard links
//	a := d.Attr(ctx, true)
//	a, err = d.Setattr(ctx, &vfs.SetAttr{Mode: &mode, Mtime: &t})
//	dh := d.Opendir()                // dh.Readdirent(ctx) until nil; dh.Seekdir(0)
//	err = d.Fsync(ctx)
//	v, err := d.Getxattr(ctx, "user.x"); d.Setxattr(ctx, "user.x", v, 0); d.Removexattr; d.Listxattr
//
//	h, err := f.Open(ctx, syscall.O_RDWR)
//	n, err := h.Read(ctx, p, off)
//	n, err = h.Write(ctx, p, off)
//	err = h.Flush(ctx)               // close(2): uploads, reports the upload's result
//	err = h.Fsync(ctx)
//	err = h.Release(ctx)
//	a := f.Attr(ctx, h)              // h may be nil
//	a, err = f.Setattr(ctx, h, &vfs.SetAttr{Size: &size})
//	err = f.Fsync(ctx)                // the file's metadata changes not yet in B2
//	target, err := f.Readlink(ctx)
//	v, err := f.Getxattr(ctx, "user.x"); f.Setxattr; f.Removexattr; f.Listxattr
//
//	ctx = vfs.WithCaller(ctx, uid, gid) // the owner of what the operation creates
//	fsys.StopWrites()                   // then every change is errs.ErrReadOnly
//	err = fsys.FlushMetadata(ctx)       // deferred metadata changes to B2 (unmount)
//	err = fsys.Sync(ctx)                // everything pending (write-back uploads, metadata) in B2
//	err = fsys.Shutdown(ctx)            // ends the lifetime: nothing keeps running
//
// Errors wrap the kinds of package errs (errors.Is(err, errs.ErrNotExist),
// ErrExist, ErrNotEmpty, ErrNotDir, ErrIsDir, ErrPerm, ErrAccess,
// ErrReadOnly, ErrNameTooLong, ErrNoSpace, ErrInvalid, ErrNotSupported,
// ErrCrossDevice, ErrNoAttr, ...); a cancelled operation wraps
// context.Canceled; anything else is an I/O error.
//
// # Layout
//
//   - fs.go, attr.go, shutdown.go, backend.go: Options, FS (the filesystem
//     and its lifetime), attributes, the backend's names here.
//   - node.go: Dir, File, Account and the registry of loaded nodes (one
//     *File per name, moved by renames; a node unlinked, removed or
//     replaced is "gone": only its open handles reach it).
//   - namespace.go, rename.go, account.go, write.go, links.go: changes of
//     directory entries (write.go: the write path's options and checks).
//   - file.go, staged.go, copyrange.go, cached.go: open files and their
//     handles (a version read from B2 through the read cache, a staged
//     copy), server-side copies.
//   - dirhandle.go, streamstep.go: directory reads (streamed listings of
//     package listing, with the files being written merged in).
//   - posix_nodes.go, dirmeta.go, xattr.go, symlink.go, special.go:
//     changes of POSIX metadata (its encoding in file info is package
//     posixmeta; posix.go names it here).
//   - metaflush.go, ownversions.go, pins.go: deferred metadata of closed
//     files; the versions this mount made; versions open handles read
//     (their deletes wait for the last reader).
//   - writeback.go: write-back mode (close commits locally; fsync and Sync
//     wait for uploads; renames and unlinks of pending files).
//   - ctime.go, markers.go: change times and directory times; directory
//     markers kept only where needed.
//   - names.go: package listing's names here. Listings and lookups
//     through the metadata cache (package cache), streamed directory
//     listings, subtree prefetch and the mapping of names to B2 names are
//     package listing (FS.meta).
//   - ranged reads with readahead under a memory budget: package
//     readahead (file.go opens a Reader per handle).
//   - view.go, viewfile.go: the versions view's place and its files.
//
// LOCK ORDER: registry.mu, then Dir.locMu or File.mu (relocate); nothing
// takes registry.mu while holding a node's lock. File.mu and metaQueue.mu
// are never held together; versionPins.mu is taken alone. See package listing for the listing streams,
// ctime.go for directory times and package staging for staged files.
package vfs
