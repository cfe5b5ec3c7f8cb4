// Package control is the control channel of a running b2fs mount: a unix
// socket through which b2fs sync and b2fs status reach the b2fs process
// that serves a mount point, found from the mount point's path alone.
//
// Discovery. The client looks the path up in /proc/self/mountinfo: the
// mount must be of type fuse.b2fs; its device number (major:minor, unique
// among live mounts) and its owner (the user_id= the kernel records for
// FUSE mounts: the user who mounted it) name the socket,
// SocketDir(owner)/mount-MAJOR-MINOR.sock. Nothing is asked of the
// filesystem itself, so a hung mount cannot hang discovery, and root
// reaches a user's mount even without allow_other.
//
// Access. The socket directory is 0700 and owned by the mount's owner; the
// socket is 0600. The server also checks the peer's credentials
// (SO_PEERCRED) and answers only its own user and root. Requests and
// answers carry figures and file names, never credentials.
//
// Life. The server binds after the mount serves requests and removes the
// socket when it stops. A socket left by a b2fs that was killed is removed
// by the next b2fs that starts with the same owner once its mount is gone;
// while the dead mount is still listed, clients get ECONNREFUSED and say
// that the process serving it is not running.
package control

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// FSType is the mount type of b2fs mounts in mountinfo.
const FSType = "fuse.b2fs"

// Mount is one entry of /proc/self/mountinfo.
type Mount struct {
	Dev    string // major:minor
	Point  string // mount point (unescaped)
	FSType string
	Owner  int // user_id= of a FUSE mount, -1 when not given
}

// unescape undoes mountinfo's octal escapes (\040 for a space).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Mounts parses mountinfo (the format of /proc/self/mountinfo).
func Mounts(mountinfo string) []Mount {
	var out []Mount
	for _, line := range strings.Split(mountinfo, "\n") {
		fl := strings.Fields(line)
		sep := -1
		for i, f := range fl {
			if f == "-" && i >= 6 {
				sep = i
				break
			}
		}
		if sep < 0 || len(fl) < sep+3 {
			continue
		}
		m := Mount{Dev: fl[2], Point: unescape(fl[4]), FSType: fl[sep+1], Owner: -1}
		if sep+3 < len(fl) {
			for _, o := range strings.Split(fl[sep+3], ",") {
				if v, ok := strings.CutPrefix(o, "user_id="); ok {
					if n, err := strconv.Atoi(v); err == nil {
						m.Owner = n
					}
				}
			}
		}
		out = append(out, m)
	}
	return out
}

// readMounts reads the calling process's mount table.
func readMounts() ([]Mount, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read the mount table: %w", err)
	}
	return Mounts(string(b)), nil
}

// ErrNotB2fs is returned (wrapped) for a path that is not on a b2fs mount.
var ErrNotB2fs = errors.New("not a b2fs mount")

// Find returns the mount that holds path: the topmost mount at the longest
// mount point that is path or one of its parents. path must be absolute
// and have no symbolic links (see Resolve).
func Find(mounts []Mount, path string) (Mount, bool) {
	var best Mount
	found := false
	for _, m := range mounts {
		if !within(path, m.Point) {
			continue
		}
		if !found || len(m.Point) >= len(best.Point) {
			best, found = m, true
		}
	}
	return best, found
}

func within(path, dir string) bool {
	return path == dir || dir == "/" || strings.HasPrefix(path, dir+"/")
}

// Resolve returns path absolute with its parent's symbolic links resolved;
// the last element is not looked at, so that resolving a mount point sends
// its filesystem no request.
func Resolve(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	if abs == "/" {
		return abs, nil
	}
	dir, err := filepath.EvalSymlinks(filepath.Dir(abs))
	if errors.Is(err, os.ErrPermission) {
		// Not for this user to look into: the path as given (the mount
		// table says whose the mount is).
		return abs, nil
	}
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, filepath.Base(abs)), nil
}

// Lookup finds the b2fs mount that holds path.
func Lookup(path string) (Mount, error) {
	p, err := Resolve(path)
	if err != nil {
		return Mount{}, err
	}
	// Another user's FUSE mount answers EACCES (without allow_other):
	// the mount table still tells whose it is.
	if _, err := os.Lstat(p); err != nil && !errors.Is(err, os.ErrPermission) {
		return Mount{}, err
	}
	mounts, err := readMounts()
	if err != nil {
		return Mount{}, err
	}
	m, ok := Find(mounts, p)
	if !ok || m.FSType != FSType {
		if ok && m.Point != "/" {
			return Mount{}, fmt.Errorf("%s: %w (it is on a %s mount at %s)", path, ErrNotB2fs, m.FSType, m.Point)
		}
		return Mount{}, fmt.Errorf("%s: %w", path, ErrNotB2fs)
	}
	return m, nil
}

// SocketName is the file name of the control socket of the mount with
// device dev (major:minor).
func SocketName(dev string) string {
	return "mount-" + strings.ReplaceAll(dev, ":", "-") + ".sock"
}

// SocketDirs are the directories, in order, where the control sockets of
// the mounts of uid may be: /run/b2fs for root; for other users
// /run/user/UID/b2fs (their runtime directory) and, where that does not
// exist, /tmp/b2fs-UID. They depend on uid alone (not on the environment),
// so that root finds a user's socket.
func SocketDirs(uid int) []string {
	if uid == 0 {
		return []string{"/run/b2fs"}
	}
	return []string{
		filepath.Join("/run/user", strconv.Itoa(uid), "b2fs"),
		filepath.Join("/tmp", "b2fs-"+strconv.Itoa(uid)),
	}
}
