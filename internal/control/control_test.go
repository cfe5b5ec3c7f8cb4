package control

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const mountinfo = `22 1 259:2 / / rw,relatime shared:1 - ext4 /dev/root rw
40 22 0:41 / /mnt/my\040b2 rw,nosuid,nodev,relatime shared:50 - fuse.b2fs b2fs:bkt rw,user_id=1000,group_id=1000,default_permissions
41 40 0:42 / /mnt/my\040b2/inner rw,relatime shared:51 - tmpfs tmpfs rw
42 22 0:43 / /mnt/b2 rw,relatime shared:52 - fuse.b2fs b2fs:one rw,user_id=0,group_id=0
43 22 0:44 / /mnt/b2 rw,relatime shared:53 - fuse.b2fs b2fs:two rw,user_id=0,group_id=0
`

// TestFind: the mount holding a path is the longest mount point above it,
// the topmost when several are stacked; escapes and user_id are read.
func TestFind(t *testing.T) {
	ms := Mounts(mountinfo)
	for _, c := range []struct {
		path, dev, fstype string
		owner             int
	}{
		{"/mnt/my b2", "0:41", FSType, 1000},
		{"/mnt/my b2/a/b.txt", "0:41", FSType, 1000},
		{"/mnt/my b2/inner/x", "0:42", "tmpfs", -1},
		{"/mnt/b2", "0:44", FSType, 0},
		{"/mnt/b2x", "259:2", "ext4", -1},
		{"/", "259:2", "ext4", -1},
	} {
		m, ok := Find(ms, c.path)
		if !ok || m.Dev != c.dev || m.FSType != c.fstype || m.Owner != c.owner {
			t.Errorf("Find(%q) = %+v %v, want dev %s %s owner %d", c.path, m, ok, c.dev, c.fstype, c.owner)
		}
	}
	if SocketName("0:41") != "mount-0-41.sock" {
		t.Errorf("SocketName = %q", SocketName("0:41"))
	}
}

type fakeHandler struct {
	syncs   atomic.Int32
	release chan struct{}
}

func (h *fakeHandler) Status() *Status {
	return &Status{Mountpoint: "/m", PendingFiles: 3, PendingBytes: 1536}
}

func (h *fakeHandler) Sync(ctx context.Context) error {
	h.syncs.Add(1)
	select {
	case <-h.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)) }

// TestServerClient: over a real socket, status answers the handler's
// figures, sync waits for the handler, a client that gives up ends the
// sync in the server, the socket is 0600 in a 0700 directory, a stale
// socket file is replaced, and Close removes the socket.
func TestServerClient(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ctl")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// A stale socket at the same path, from a process that is gone.
	stale := filepath.Join(dir, SocketName("0:99"))
	ln, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	h := &fakeHandler{release: make(chan struct{})}
	s, err := ListenIn(dir, "0:99", h, discard())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for p, want := range map[string]os.FileMode{dir: 0o700, s.Path(): 0o600} {
		if st, err := os.Stat(p); err != nil || st.Mode().Perm() != want {
			t.Errorf("%s: mode %v (%v), want %v", p, st.Mode().Perm(), err, want)
		}
	}
	m := Mount{Dev: "0:99", Point: "/m", Owner: os.Getuid()}
	call := func(ctx context.Context, op string) (*Response, error) {
		return callAt(ctx, m, s.Path(), op)
	}
	r, err := call(context.Background(), OpStatus)
	if err != nil || r.Status == nil || r.Status.PendingFiles != 3 {
		t.Fatalf("status: %+v %v", r, err)
	}
	var out strings.Builder
	r.Status.Write(&out)
	if !strings.Contains(out.String(), "pending:   3 files, 1.5 KiB") {
		t.Errorf("status text:\n%s", out.String())
	}
	// A sync the client gives up on ends in the server.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	_, err = call(ctx, OpSync)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("sync with a timeout: %v", err)
	}
	// A sync returns once the handler's does.
	done := make(chan error, 1)
	go func() { _, err := call(context.Background(), OpSync); done <- err }()
	select {
	case err := <-done:
		t.Fatalf("sync returned before the handler: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	close(h.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := h.syncs.Load(); n != 2 {
		t.Errorf("%d syncs reached the handler, want 2", n)
	}
	if _, err := call(context.Background(), "bogus"); err == nil || !strings.Contains(err.Error(), "unknown operation") {
		t.Errorf("bogus op: %v", err)
	}
	// Another mount's socket answers with its own device: refused.
	if _, err := callAt(context.Background(), Mount{Dev: "0:98", Point: "/m"}, s.Path(), OpStatus); err == nil || !strings.Contains(err.Error(), "another mount") {
		t.Errorf("device mismatch: %v", err)
	}
	s.Close()
	if _, err := os.Stat(s.Path()); !os.IsNotExist(err) {
		t.Errorf("socket left after Close: %v", err)
	}
}

// TestServerRefusesOtherUsers: the peer check answers "permission denied"
// to a uid other than the owner and root.
func TestServerRefusesOtherUsers(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ctl")
	s, err := listenIn(dir, "0:7", &fakeHandler{}, discard(), func(int) bool { return false })
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = callAt(context.Background(), Mount{Dev: "0:7", Point: "/m"}, s.Path(), OpStatus)
	if !errors.Is(err, ErrPermission) {
		t.Fatalf("got %v, want permission denied", err)
	}
}

// TestListenInRefusesForeignDir: a socket directory that is not the
// user's is not used (the test runs as root, like the suite: it chowns).
func TestListenInRefusesForeignDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ctl")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if _, err := ListenIn(dir, "0:8", &fakeHandler{}, discard()); err == nil || !strings.Contains(err.Error(), "not a directory of uid") {
		t.Fatalf("got %v", err)
	}
}

// callAt is CallMount with the socket path given.
func callAt(ctx context.Context, m Mount, path, op string) (*Response, error) {
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, err
	}
	return exchange(ctx, m, c, op)
}

// TestClientIgnoresForeignDir: the client looks for a user's socket only
// in directories of that user (or root): a socket that someone else put
// in /tmp/b2fs-UID is never talked to. (Runs as root, like the suite.)
func TestClientIgnoresForeignDir(t *testing.T) {
	const owner, other = 54321, 54322
	dirs := SocketDirs(owner)
	dir := dirs[len(dirs)-1]
	if dir != "/tmp/b2fs-54321" || SocketDirs(0)[0] != "/run/b2fs" {
		t.Fatalf("SocketDirs: %v %v", dirs, SocketDirs(0))
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	h := &fakeHandler{}
	s, err := listenIn(dir, "0:5", h, discard(), func(int) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m := Mount{Dev: "0:5", Point: "/m", Owner: owner}
	if err := os.Chown(dir, other, other); err != nil {
		t.Fatal(err)
	}
	if _, err := CallMount(context.Background(), m, OpStatus); err == nil || !strings.Contains(err.Error(), "no control socket") {
		t.Errorf("socket in another user's directory: %v", err)
	}
	if err := os.Chown(dir, owner, owner); err != nil {
		t.Fatal(err)
	}
	if r, err := CallMount(context.Background(), m, OpStatus); err != nil || r.Status.PendingFiles != 3 {
		t.Errorf("socket in the owner's directory: %+v %v", r, err)
	}
}

// TestStatusText: the text form shows the figures in units, singulars,
// the cost by class, and only the last few errors.
func TestStatusText(t *testing.T) {
	s := &Status{Mountpoint: "/m", Source: "bucket b", PID: 7, PendingFiles: 1, PendingBytes: 3 << 20, OldestPendingSeconds: 75.4,
		Uploading: 1, UploadRate: 2048, RateWindowSeconds: 30, UploadsDone: 1, Retries: 1,
		Calls: map[string]int64{"A": 3, "C": 1000}, Cost: map[string]float64{"A": 0, "C": 0.004}, TotalCost: 0.004}
	for i := 0; i < 8; i++ {
		s.RecentErrors = append(s.RecentErrors, Error{Time: time.Unix(int64(i), 0), Name: "b/f" + string(rune('0'+i)), Error: "boom\nagain"})
	}
	var b strings.Builder
	s.Write(&b)
	out := b.String()
	for _, want := range []string{
		"pending:   1 file, 3.0 MiB; oldest change 1m15s ago\n",
		"uploading: 1 file, 2.0 KiB/s (last 30s)\n",
		"uploaded:  1 upload, 0 B since the start; 0 conflicts, 1 retry, 0 upload errors\n",
		"B2 calls:  class A 3 ($0.000000), class C 1000 ($0.004000); estimated $0.004000\n",
		"recent errors (the last 5 of 8; --json lists all):\n",
		"  1970-01-01T00:00:07Z b/f7: boom again\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status text lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "b/f2:") || !strings.Contains(out, "b/f3:") {
		t.Errorf("status text shows the wrong errors:\n%s", out)
	}
}

// TestSweepAndStartGrace: starting a server removes the sockets in its
// directory that nobody answers on and whose mount is gone, keeps those
// that answer (a b2fs in another mount namespace), and a client asking a
// mount whose socket is not there yet waits for it a moment.
func TestSweepAndStartGrace(t *testing.T) {
	const owner = 54323
	dir := SocketDirs(owner)[1]
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	dead := filepath.Join(dir, SocketName("0:9001"))
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: dead, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	alive := filepath.Join(dir, SocketName("0:9002"))
	ln2, err := net.ListenUnix("unix", &net.UnixAddr{Name: alive, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln2.Close()

	m := Mount{Dev: "0:9003", Point: "/m", Owner: owner}
	got := make(chan error, 1)
	go func() { _, err := CallMount(context.Background(), m, OpStatus); got <- err }()
	time.Sleep(500 * time.Millisecond)
	s, err := listenIn(dir, "0:9003", &fakeHandler{}, discard(), func(int) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := <-got; err != nil {
		t.Errorf("a client that came before the socket: %v", err)
	}
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		t.Errorf("dead socket not swept: %v", err)
	}
	if _, err := os.Stat(alive); err != nil {
		t.Errorf("live socket swept: %v", err)
	}
}
