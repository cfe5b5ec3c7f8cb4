package vfs

import (
	"context"

	"github.com/b2fs/b2fs/b2client"
	"github.com/b2fs/b2fs/cache"
	"github.com/b2fs/b2fs/fs/errs"
)

// The account root of an account mount: one directory per bucket. Files,
// symlinks and special files cannot live there, and buckets are not
// renamed.

// Lookup returns the root directory of bucket name.
func (n *Account) Lookup(ctx context.Context, name string) (*Dir, error) {
	es, err := n.fsys.meta.Buckets(ctx)
	if err != nil {
		return nil, n.fsys.opErr("lookup bucket "+name, err)
	}
	e, ok := cache.Find(es, name)
	if !ok {
		return nil, errs.ErrNotExist
	}
	return n.Child(e), nil
}

// Child returns the root directory of the bucket of entry e (a listing
// entry whose FileID is the bucket ID).
func (n *Account) Child(e cache.Entry) *Dir {
	return n.fsys.dirNode(Bucket{ID: e.FileID, Name: e.Name}, "")
}

// Buckets lists the buckets as directory entries (FileID: the bucket ID).
func (n *Account) Buckets(ctx context.Context) ([]cache.Entry, error) {
	es, err := n.fsys.meta.Buckets(ctx)
	return es, n.fsys.opErr("list buckets", err)
}

// Attr returns the root's attributes.
func (n *Account) Attr() Attr {
	var a Attr
	n.fsys.dirAttr(&a)
	return a
}

// Mkdir creates a private bucket.
func (n *Account) Mkdir(ctx context.Context, name string, mode uint32) (*Dir, error) {
	if e := n.fsys.writable("create bucket", capWriteBuckets); e != nil {
		return nil, e
	}
	if !b2client.ValidBucketName(name) {
		return nil, errs.ErrInvalid
	}
	b, err := n.fsys.opts.Write.Backend.CreateBucket(ctx, name)
	if err != nil {
		return nil, n.fsys.opErr("create bucket "+name, err)
	}
	n.fsys.meta.Cache().InvalidateDir(bucketsKey)
	return n.Child(cache.Entry{Name: b.Name, Dir: true, FileID: b.ID}), nil
}

// Rmdir deletes an empty bucket.
func (n *Account) Rmdir(ctx context.Context, name string) error {
	if e := n.fsys.writable("delete bucket", capDeleteBuckets); e != nil {
		return e
	}
	es, err := n.fsys.meta.Buckets(ctx)
	if err != nil {
		return n.fsys.opErr("delete bucket "+name, err)
	}
	e, ok := cache.Find(es, name)
	if !ok {
		return errs.ErrNotExist
	}
	b := Bucket{ID: e.FileID, Name: e.Name}
	if len(n.fsys.opts.Write.Staging.Under(b.ID, "", false)) > 0 {
		return errs.ErrNotEmpty
	}
	if err := n.fsys.opts.Write.Backend.DeleteBucket(ctx, b); err != nil {
		return n.fsys.opErr("delete bucket "+name, err)
	}
	n.fsys.meta.Cache().InvalidateDir(bucketsKey)
	return nil
}

// Setattr changes nothing (the root has no metadata of its own).
func (n *Account) Setattr(ctx context.Context, in *SetAttr) (Attr, error) {
	if e := n.fsys.writable("setattr"); e != nil {
		return Attr{}, e
	}
	return n.Attr(), nil
}

// Refuse answers every other change at the account root: ErrReadOnly on a
// read-only mount, else ErrPerm (files, symlinks, special files and hard
// links cannot live at the root; buckets are not renamed).
func (n *Account) Refuse(op string) error {
	if e := n.fsys.writable(op); e != nil {
		return e
	}
	return errs.ErrPerm
}

// RefuseXattr answers setxattr and removexattr at the account root: the
// root has nowhere to store them.
func (n *Account) RefuseXattr(op string) error {
	if e := n.fsys.writable(op); e != nil {
		return e
	}
	return errs.ErrNotSupported
}
