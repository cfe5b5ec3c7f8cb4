package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Handler answers the requests of one mount.
type Handler interface {
	// Status returns the mount's figures.
	Status() *Status
	// Sync returns once every change pending when it was called is in B2,
	// or ctx ends (the client went away or the mount stops).
	Sync(ctx context.Context) error
}

// maxConns bounds the requests served at once.
const maxConns = 16

// Server serves one mount's control socket.
type Server struct {
	path string
	dev  string
	ln   *net.UnixListener
	h    Handler
	log  *slog.Logger
	// allowed says whether a peer uid may use the socket.
	allowed func(uid int) bool

	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
	slots  chan struct{}
}

// Listen creates the control socket of the mount with device dev (see
// SocketName) in the first usable directory of SocketDirs for this
// process's user, and serves h on it until Close.
func Listen(dev string, h Handler, log *slog.Logger) (*Server, error) {
	uid := os.Getuid()
	var errs []error
	for _, dir := range SocketDirs(uid) {
		s, err := ListenIn(dir, dev, h, log)
		if err == nil {
			return s, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

// ListenIn is Listen in dir. The parent of dir must exist and belong to
// this process's user or root; dir is created 0700 (or must already be a
// directory of this user that only it can use).
func ListenIn(dir, dev string, h Handler, log *slog.Logger) (*Server, error) {
	uid := os.Getuid()
	return listenIn(dir, dev, h, log, func(peer int) bool { return peer == 0 || peer == uid })
}

// listenIn is ListenIn with the peers allowed given.
func listenIn(dir, dev string, h Handler, log *slog.Logger, allowed func(uid int) bool) (*Server, error) {
	uid := os.Getuid()
	if err := ownDir(dir, uid); err != nil {
		return nil, err
	}
	sweep(dir)
	path := filepath.Join(dir, SocketName(dev))
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	ln.SetUnlinkOnClose(true)
	// The directory already keeps others out; the mode says so too.
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{path: path, dev: dev, ln: ln, h: h, log: log, ctx: ctx, cancel: cancel, slots: make(chan struct{}, maxConns), allowed: allowed}
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

// ownDir makes sure dir is a directory of uid that nobody else may enter.
func ownDir(dir string, uid int) error {
	parent := filepath.Dir(dir)
	var pst syscall.Stat_t
	if err := syscall.Stat(parent, &pst); err != nil {
		return fmt.Errorf("control socket directory %s: %w", dir, err)
	}
	if pst.Uid != 0 && int(pst.Uid) != uid {
		return fmt.Errorf("control socket directory %s: its parent belongs to uid %d", dir, pst.Uid)
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("control socket directory: %w", err)
	}
	var st syscall.Stat_t
	if err := syscall.Lstat(dir, &st); err != nil {
		return fmt.Errorf("control socket directory: %w", err)
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFDIR || int(st.Uid) != uid {
		return fmt.Errorf("control socket directory %s is not a directory of uid %d", dir, uid)
	}
	if st.Mode&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("control socket directory: %w", err)
		}
	}
	return nil
}

// sweep removes the sockets in dir of mounts that no longer exist (left by
// a b2fs that was killed): the mount is not in the mount table and nobody
// accepts connections on the socket. (A b2fs in another mount namespace
// may serve a mount this one does not see: its socket answers.)
func sweep(dir string) {
	mounts, err := readMounts()
	if err != nil {
		return
	}
	live := map[string]bool{}
	for _, m := range mounts {
		if m.FSType == FSType {
			live[SocketName(m.Dev)] = true
		}
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		n := e.Name()
		if !strings.HasPrefix(n, "mount-") || !strings.HasSuffix(n, ".sock") || live[n] {
			continue
		}
		p := filepath.Join(dir, n)
		c, err := net.DialTimeout("unix", p, time.Second)
		if err == nil {
			c.Close()
			continue
		}
		if errors.Is(err, syscall.ECONNREFUSED) {
			os.Remove(p)
		}
	}
}

// Path is the socket's path.
func (s *Server) Path() string { return s.path }

// Close stops serving, ends the requests in progress (a sync waiting gets
// an error) and removes the socket.
func (s *Server) Close() error {
	s.cancel()
	err := s.ln.Close()
	s.wg.Wait()
	return err
}

func (s *Server) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.AcceptUnix()
		if err != nil {
			if s.ctx.Err() == nil {
				s.log.Error("control socket stopped", "err", err)
			}
			return
		}
		select {
		case s.slots <- struct{}{}:
		default:
			s.reply(c, Response{Dev: s.dev, Error: "busy: too many control requests at once"})
			c.Close()
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() { <-s.slots }()
			defer c.Close()
			s.handle(c)
		}()
	}
}

// peerUID returns the uid of the process at the other end of c.
func peerUID(c *net.UnixConn) (int, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return -1, err
	}
	var cred *syscall.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return -1, err
	}
	if cerr != nil {
		return -1, cerr
	}
	return int(cred.Uid), nil
}

func (s *Server) handle(c *net.UnixConn) {
	uid, err := peerUID(c)
	if err != nil || !s.allowed(uid) {
		s.log.Warn("control request refused", "peer_uid", uid, "err", err)
		s.reply(c, Response{Dev: s.dev, Error: fmt.Sprintf("permission denied: only uid %d (the mount's owner) and root may use this mount's control socket", os.Getuid())})
		return
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(c).ReadBytes('\n')
	if err != nil {
		return
	}
	c.SetReadDeadline(time.Time{})
	var req Request
	if err := json.Unmarshal(line, &req); err != nil {
		s.reply(c, Response{Dev: s.dev, Error: "bad request"})
		return
	}
	switch req.Op {
	case OpStatus:
		s.reply(c, Response{Dev: s.dev, Status: s.h.Status()})
	case OpSync:
		// The sync ends when the client goes away (it sends nothing more,
		// so a read returns at its close) or the server closes.
		ctx, cancel := context.WithCancel(s.ctx)
		defer cancel()
		go func() {
			var b [1]byte
			c.Read(b[:])
			cancel()
		}()
		start := time.Now()
		err := s.h.Sync(ctx)
		resp := Response{Dev: s.dev}
		if err != nil {
			resp.Error = oneLine(err.Error())
			if s.ctx.Err() != nil {
				resp.Error = "the mount is stopping: " + resp.Error
			}
		}
		s.log.Info("sync requested over the control socket", "duration", time.Since(start).Round(time.Millisecond), "err", resp.Error)
		s.reply(c, resp)
	default:
		s.reply(c, Response{Dev: s.dev, Error: fmt.Sprintf("unknown operation %q", req.Op)})
	}
}

func (s *Server) reply(c *net.UnixConn, r Response) {
	b, _ := json.Marshal(r)
	c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	c.Write(append(b, '\n'))
}
