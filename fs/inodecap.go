package fs

import (
	"sync"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
)

// Bounded file inodes. Every name the kernel learns (a lookup, or each
// entry of a READDIRPLUS reply) gets a fileNode and a go-fuse Inode, about
// 600 bytes together, which live as long as the kernel keeps its dentry:
// usually until memory pressure, so a find over a million names would hold
// a million of them. inodeCap keeps the file inodes handed to the kernel
// in arrival order and, beyond Options.MaxFileInodes, asks the kernel to
// drop the oldest one's dentry (FUSE_NOTIFY_INVAL_ENTRY); the kernel then
// forgets the inode and go-fuse releases it. A name dropped this way that
// is used again costs one LOOKUP round trip, answered from the metadata
// cache while its listing is cached (no B2 call).
//
// The cap is a memory bound, not a cache policy: a directory listed again
// that holds more names than the cap re-creates every inode it lost (the
// oldest go first, so a repeated scan of more names than the cap misses on
// every name), and a warm ls -l of 100,000 names with a cap of 50,000 took
// over ten times longer than with no cap. Keep it above the biggest
// directory that is listed repeatedly.
//
// What a dropped file's vfs node must keep survives the forget: the vfs
// keeps nodes with metadata changes not yet in B2 (vfs.FS.Forget), staged
// files live in the staging manager, and an open file keeps its inode in
// the kernel anyway.
type inodeCap struct {
	max int // 0: unbounded

	// mu guards the fields below. LOCK ORDER: a leaf; added is called
	// with no lock held, and drain takes inode and fileNode locks only
	// after releasing it.
	mu      sync.Mutex
	ring    []capEntry // the last max file inodes handed out, oldest at head
	head    int
	pending []capEntry // to drop, for the notifier (see added)
	running bool       // a notifier goroutine is draining pending
	noPrune bool       // the kernel does not support FUSE_NOTIFY_PRUNE
}

type capEntry struct {
	parent *fusefs.Inode
	name   string
}

func newInodeCap(max int) *inodeCap { return &inodeCap{max: max} }

// added records that the kernel got a new file inode called name in parent.
func (c *inodeCap) added(parent *fusefs.Inode, name string) {
	if c == nil || c.max <= 0 {
		return
	}
	e := capEntry{parent, name}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.ring) < c.max {
		c.ring = append(c.ring, e)
		return
	}
	old := c.ring[c.head]
	c.ring[c.head] = e
	c.head = (c.head + 1) % c.max
	// Every drop is kept until the notifier sends it, however far a fast
	// walk (find over a million names) runs ahead of it: a skipped drop
	// would leave its inode (about 1 KB here and in go-fuse) until the
	// kernel lets it go, which may be never, while a pending one costs
	// the 24 bytes of its entry.
	c.pending = append(c.pending, old)
	if !c.running {
		c.running = true
		go c.drain()
	}
}

// drain sends the pending drops in batches and ends when none is left.
// It runs outside every FUSE request: the kernel takes locks to drop
// dentries that a request in progress may hold while it waits for b2fs.
//
// A batch goes as one FUSE_NOTIFY_PRUNE (the kernel drops the inodes'
// unused dentries and sends FORGET; Linux 6.18+); older kernels get one
// FUSE_NOTIFY_INVAL_ENTRY per name, which also resets the kernel's cached
// entries of the parent directory (see dircache.go), so a directory much
// bigger than the cap is read again with READDIRPLUS when listed again.
func (c *inodeCap) drain() {
	for {
		c.mu.Lock()
		if len(c.pending) == 0 {
			c.running = false
			c.pending = nil
			c.mu.Unlock()
			return
		}
		batch := c.pending[:min(len(c.pending), pruneBatch)]
		c.pending = c.pending[len(batch):]
		noPrune := c.noPrune
		c.mu.Unlock()
		var nodes []*fusefs.Inode
		var names []capEntry
		for _, e := range batch {
			ch := e.parent.GetChild(e.name)
			if ch == nil {
				continue // forgotten already
			}
			if _, ok := ch.Operations().(*fileNode); !ok {
				continue
			}
			nodes, names = append(nodes, ch), append(names, e)
		}
		if len(nodes) == 0 {
			continue
		}
		if !noPrune {
			errno := nodes[0].NotifyPrune(nodes)
			if errno != syscall.ENOSYS {
				continue // sent (or the mount is gone)
			}
			c.mu.Lock()
			c.noPrune = true
			c.mu.Unlock()
		}
		for _, e := range names {
			// ENOENT (the kernel dropped it already) and ENOTCONN
			// (unmounted) are expected; nothing to do about either.
			_ = e.parent.NotifyEntry(e.name)
		}
	}
}

// pruneBatch is how many inodes one FUSE_NOTIFY_PRUNE names.
const pruneBatch = 256
