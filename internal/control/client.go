package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// ErrPermission is returned (wrapped) when the caller may not control the
// mount.
var ErrPermission = errors.New("permission denied")

// Call sends op to the b2fs process serving the mount that holds path and
// returns its answer. ctx bounds the whole call; when it ends the
// connection is closed, which also ends a sync in the server.
func Call(ctx context.Context, path, op string) (*Response, error) {
	type result struct {
		m   Mount
		err error
	}
	// Looking the path up may ask its filesystem (a path inside the
	// mount): bounded by ctx too.
	found := make(chan result, 1)
	go func() { m, err := Lookup(path); found <- result{m, err} }()
	var m Mount
	select {
	case r := <-found:
		if r.err != nil {
			return nil, r.err
		}
		m = r.m
	case <-ctx.Done():
		return nil, fmt.Errorf("%s does not answer: %w", path, ctx.Err())
	}
	return CallMount(ctx, m, op)
}

// CallMount is Call for a mount already looked up.
func CallMount(ctx context.Context, m Mount, op string) (*Response, error) {
	me := os.Geteuid()
	if me != 0 && m.Owner >= 0 && me != m.Owner {
		return nil, fmt.Errorf("%w: the b2fs mount at %s belongs to uid %d; only that user or root may use it", ErrPermission, m.Point, m.Owner)
	}
	owner := m.Owner
	if owner < 0 {
		owner = me
	}
	// A b2fs that has just mounted creates its socket a moment later.
	deadline := time.Now().Add(startGrace)
	for {
		c, err := dial(ctx, m, owner)
		if err == nil {
			return exchange(ctx, m, c, op)
		}
		if !errors.Is(err, errNoSocket) || time.Now().After(deadline) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// startGrace is how long a client waits for the socket of a mount that
// has none yet (its b2fs may be starting).
const startGrace = 5 * time.Second

// errNoSocket: the mount has no control socket.
var errNoSocket = errors.New("no control socket")

// exchange sends op on c, reads the answer and closes c.
func exchange(ctx context.Context, m Mount, c *net.UnixConn, op string) (*Response, error) {
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	b, _ := json.Marshal(Request{Op: op})
	_, werr := c.Write(append(b, '\n'))
	// A refusal may arrive before the request was sent: read it anyway.
	line, err := bufio.NewReader(c).ReadBytes('\n')
	if err != nil {
		if werr != nil {
			err = werr
		}
		return nil, callErr(ctx, m, err)
	}
	var r Response
	if err := json.Unmarshal(line, &r); err != nil {
		return nil, fmt.Errorf("the b2fs at %s answered something unreadable: %w", m.Point, err)
	}
	if r.Dev != m.Dev {
		return nil, fmt.Errorf("the control socket of %s answered for another mount (device %s, not %s)", m.Point, r.Dev, m.Dev)
	}
	if r.Error != "" {
		if rest, ok := strings.CutPrefix(r.Error, "permission denied: "); ok {
			return &r, fmt.Errorf("%w: %s", ErrPermission, rest)
		}
		return &r, errors.New(r.Error)
	}
	return &r, nil
}

func callErr(ctx context.Context, m Mount, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("the b2fs serving %s closed the connection (did it stop?): %w", m.Point, err)
}

// dial connects to the mount's socket in the directories of its owner,
// checking that the directory belongs to the owner (or root).
func dial(ctx context.Context, m Mount, owner int) (*net.UnixConn, error) {
	var refused error
	for _, dir := range SocketDirs(owner) {
		path := filepath.Join(dir, SocketName(m.Dev))
		var st syscall.Stat_t
		if err := syscall.Stat(dir, &st); err != nil {
			if errors.Is(err, syscall.EACCES) {
				return nil, fmt.Errorf("%w: cannot reach the control socket of %s in %s", ErrPermission, m.Point, dir)
			}
			continue
		}
		if st.Uid != 0 && int(st.Uid) != owner {
			continue // not the owner's: never talk to it
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, "unix", path)
		switch {
		case err == nil:
			return c.(*net.UnixConn), nil
		case errors.Is(err, syscall.ENOENT):
			continue
		case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
			return nil, fmt.Errorf("%w: cannot connect to the control socket %s", ErrPermission, path)
		case errors.Is(err, syscall.ECONNREFUSED):
			refused = fmt.Errorf("the b2fs process serving %s is not running (stale control socket %s; the mount is left from a b2fs that died: unmount it with fusermount3 -u -z %s)", m.Point, path, m.Point)
		default:
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("control socket %s: %w", path, err)
		}
	}
	if refused != nil {
		return nil, refused
	}
	return nil, fmt.Errorf("%w for the b2fs mount at %s (its b2fs may be older than this command, or stopping; see its log)", errNoSocket, m.Point)
}
