package metrics

import (
	"strconv"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/prometheus/client_golang/prometheus"
)

// WrapFUSE returns fs with every common FUSE operation counted and timed.
// Operations not wrapped (FORGET, locks, ioctl...) pass through untouched.
func (m *Metrics) WrapFUSE(fs fuse.RawFileSystem) fuse.RawFileSystem {
	r := &rawFS{RawFileSystem: fs, m: m, ops: map[string]*opMetrics{}}
	for _, op := range fuseOps {
		r.ops[op] = &opMetrics{count: m.fuseOps.WithLabelValues(op), lat: m.fuseLat.WithLabelValues(op)}
	}
	return r
}

// fuseOps are the operations WrapFUSE counts.
var fuseOps = []string{"lookup", "getattr", "setattr", "mkdir", "unlink", "rmdir", "rename", "create", "open",
	"read", "write", "flush", "fsync", "release", "opendir", "readdir", "readdirplus", "statfs", "getxattr", "copy_file_range", "lseek", "fallocate"}

// opMetrics are one operation's series, resolved once so that counting
// costs no label lookups.
type opMetrics struct {
	count prometheus.Counter
	lat   prometheus.Observer
}

type rawFS struct {
	fuse.RawFileSystem
	m   *Metrics
	ops map[string]*opMetrics // read-only after WrapFUSE
}

var errnoNames = map[fuse.Status]string{
	fuse.ENOENT: "ENOENT", fuse.EIO: "EIO", fuse.EACCES: "EACCES", fuse.EPERM: "EPERM",
	fuse.EROFS: "EROFS", fuse.EINVAL: "EINVAL", fuse.ENOTDIR: "ENOTDIR", fuse.EISDIR: "EISDIR",
	fuse.Status(syscall.EEXIST): "EEXIST", fuse.Status(syscall.ENOTEMPTY): "ENOTEMPTY",
	fuse.Status(syscall.ENOSPC): "ENOSPC", fuse.EINTR: "EINTR", fuse.ENOSYS: "ENOSYS", fuse.ENOATTR: "ENODATA",
	fuse.Status(syscall.ENOTSUP): "ENOTSUP", fuse.EBADF: "EBADF", fuse.Status(syscall.EXDEV): "EXDEV",
	fuse.Status(syscall.ENAMETOOLONG): "ENAMETOOLONG", fuse.Status(syscall.EFBIG): "EFBIG",
	fuse.Status(syscall.EBUSY): "EBUSY",
}

func (r *rawFS) done(op string, start time.Time, st fuse.Status) {
	om := r.ops[op]
	om.count.Inc()
	om.lat.Observe(time.Since(start).Seconds())
	if st != fuse.OK {
		errno, ok := errnoNames[st]
		if !ok {
			errno = "errno_" + strconv.Itoa(int(st))
		}
		r.m.fuseErrs.WithLabelValues(op, errno).Inc()
	}
}

func (r *rawFS) Lookup(c <-chan struct{}, h *fuse.InHeader, name string, out *fuse.EntryOut) fuse.Status {
	t := time.Now()
	st := r.RawFileSystem.Lookup(c, h, name, out)
	r.done("lookup", t, st)
	return st
}

func (r *rawFS) GetAttr(c <-chan struct{}, in *fuse.GetAttrIn, out *fuse.AttrOut) fuse.Status {
	t := time.Now()
	st := r.RawFileSystem.GetAttr(c, in, out)
	r.done("getattr", t, st)
	return st
}

func (r *rawFS) SetAttr(c <-chan struct{}, in *fuse.SetAttrIn, out *fuse.AttrOut) fuse.Status {
	t := time.Now()
	st := r.RawFileSystem.SetAttr(c, in, out)
	r.done("setattr", t, st)
	return st
}

func (r *rawFS) Mkdir(c <-chan struct{}, in *fuse.MkdirIn, name string, out *fuse.EntryOut) fuse.Status {
	t := time.Now()
	st := r.RawFileSystem.Mkdir(c, in, name, out)
	r.done("mkdir", t, st)
	return st
}

func (r *rawFS) Unlink(c <-chan struct{}, h *fuse.InHeader, name string) fuse.Status {
	t := time.Now()
	st := r.RawFileSystem.Unlink(c, h, name)
	r.done("unlink", t, st)
	return st
}

func (r *rawFS) Rmdir(c <-chan struct{}, h *fuse.InHeader, name string) fuse.Status {
	t := time.Now()
	st := r.RawFileSystem.Rmdir(c, h, name)
	r.done("rmdir", t, st)
	return st
}

func (r *rawFS) Rename(c <-chan struct{}, in *fuse.RenameIn, oldName, newName string) fuse.Status {
	t := time.Now()
	st := r.RawFileSystem.Rename(c, in, oldName, newName)
	r.done("rename", t, st)
	return st
}

func (r *rawFS) Create(c <-chan struct{}, in *fuse.CreateIn, name string, out *fuse.CreateOut) fuse.Status {
	t := time.Now()
	st := r.RawFileSystem.Create(c, in, name, out)
	r.done("create", t, st)
	return st
}

func (r *rawFS) Open(c <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	t := time.Now()
	st := r.RawFileSystem.Open(c, in, out)
	r.done("open", t, st)
	return st
}

func (r *rawFS) Read(c <-chan struct{}, in *fuse.ReadIn, buf []byte) (fuse.ReadResult, fuse.Status) {
	t := time.Now()
	res, st := r.RawFileSystem.Read(c, in, buf)
	r.done("read", t, st)
	return res, st
}

func (r *rawFS) Write(c <-chan struct{}, in *fuse.WriteIn, data []byte) (uint32, fuse.Status) {
	t := time.Now()
	n, st := r.RawFileSystem.Write(c, in, data)
	r.done("write", t, st)
	return n, st
}

func (r *rawFS) Writev(c <-chan struct{}, in *fuse.WriteIn, data [][]byte) (uint32, fuse.Status) {
	t := time.Now()
	n, st := r.RawFileSystem.Writev(c, in, data)
	if st != fuse.ENOSYS { // ENOSYS: go-fuse falls back to Write
		r.done("write", t, st)
	}
	return n, st
}

func (r *rawFS) Flush(c <-chan struct{}, in *fuse.FlushIn) fuse.Status {
	t := time.Now()
	st := r.RawFileSystem.Flush(c, in)
	r.done("flush", t, st)
	return st
}

func (r *rawFS) Fsync(c <-chan struct{}, in *fuse.FsyncIn) fuse.Status {
	t := time.Now()
	st := r.RawFileSystem.Fsync(c, in)
	r.done("fsync", t, st)
	return st
}

func (r *rawFS) Release(c <-chan struct{}, in *fuse.ReleaseIn) {
	t := time.Now()
	r.RawFileSystem.Release(c, in)
	r.done("release", t, fuse.OK)
}

func (r *rawFS) OpenDir(c <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	t := time.Now()
	st := r.RawFileSystem.OpenDir(c, in, out)
	r.done("opendir", t, st)
	return st
}

func (r *rawFS) ReadDir(c <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	t := time.Now()
	st := r.RawFileSystem.ReadDir(c, in, out)
	r.done("readdir", t, st)
	return st
}

func (r *rawFS) ReadDirPlus(c <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	t := time.Now()
	st := r.RawFileSystem.ReadDirPlus(c, in, out)
	r.done("readdirplus", t, st)
	return st
}

func (r *rawFS) StatFs(c <-chan struct{}, h *fuse.InHeader, out *fuse.StatfsOut) fuse.Status {
	t := time.Now()
	st := r.RawFileSystem.StatFs(c, h, out)
	r.done("statfs", t, st)
	return st
}

func (r *rawFS) GetXAttr(c <-chan struct{}, h *fuse.InHeader, attr string, dest []byte) (uint32, fuse.Status) {
	t := time.Now()
	n, st := r.RawFileSystem.GetXAttr(c, h, attr, dest)
	r.done("getxattr", t, st)
	return n, st
}

func (r *rawFS) CopyFileRange(c <-chan struct{}, in *fuse.CopyFileRangeIn) (uint32, fuse.Status) {
	t := time.Now()
	n, st := r.RawFileSystem.CopyFileRange(c, in)
	r.done("copy_file_range", t, st)
	return n, st
}

func (r *rawFS) Lseek(c <-chan struct{}, in *fuse.LseekIn, out *fuse.LseekOut) fuse.Status {
	t := time.Now()
	st := r.RawFileSystem.Lseek(c, in, out)
	r.done("lseek", t, st)
	return st
}

func (r *rawFS) Fallocate(c <-chan struct{}, in *fuse.FallocateIn) fuse.Status {
	t := time.Now()
	st := r.RawFileSystem.Fallocate(c, in)
	r.done("fallocate", t, st)
	return st
}
