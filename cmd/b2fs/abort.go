package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// A mount can outlive its unmount: a mount namespace created while b2fs
// was mounted (a service with PrivateTmp= or ProtectSystem=, a container)
// holds a private copy of it, and the kernel keeps the FUSE connection as
// long as any copy exists. fusermount then succeeds, but b2fs keeps
// receiving requests and would never finish stopping. b2fs ends such a
// connection through the fusectl filesystem, as `echo 1 >
// /sys/fs/fuse/connections/N/abort` does by hand: requests through the
// copies fail with ENOTCONN from then on.

// fusectlDir is where the fusectl filesystem lists FUSE connections.
const fusectlDir = "/sys/fs/fuse/connections"

// abortAfter is how long a stop waits for the kernel to end the connection
// after the mount was removed before aborting it.
const abortAfter = 5 * time.Second

// fuseConnection returns the kernel's number of the FUSE connection
// mounted at dir (its device number), or -1 when stat does not answer in
// time. It stats from its own goroutine, never one serving FUSE.
func fuseConnection(dir string) int {
	ch := make(chan int, 1)
	go func() {
		var st unix.Stat_t
		if err := unix.Stat(dir, &st); err != nil {
			ch <- -1
			return
		}
		ch <- int(unix.Minor(st.Dev))
	}()
	select {
	case c := <-ch:
		return c
	case <-time.After(2 * time.Second):
		return -1
	}
}

// abortConnection ends FUSE connection id, mounting fusectl first when it
// is not mounted.
func abortConnection(id int) error {
	if id < 0 {
		return errors.New("the connection's number is unknown")
	}
	p := filepath.Join(fusectlDir, strconv.Itoa(id), "abort")
	if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
		if err := unix.Mount("fusectl", fusectlDir, "fusectl", 0, ""); err != nil && !errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("mount fusectl on %s: %w", fusectlDir, err)
		}
	}
	if err := os.WriteFile(p, []byte("1"), 0); err != nil {
		return fmt.Errorf("abort FUSE connection %d: %w", id, err)
	}
	return nil
}
