package e2e

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// times is what the ctime table looks at: a name's mtime and ctime.
type times struct{ m, c time.Time }

func statTimes(t *testing.T, p string) times {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Lstat(p, &st); err != nil {
		t.Fatalf("stat %s: %v", p, err)
	}
	return times{time.Unix(st.Mtim.Unix()), time.Unix(st.Ctim.Unix())}
}

// TestCtimeAndDirectoryTimes: one row per operation, with what POSIX says
// moves: the file's mtime and ctime, and those of the directories whose
// entries change.
func TestCtimeAndDirectoryTimes(t *testing.T) {
	w := newWriteEnv(t, "--metadata-delay", "0")
	m := w.m.Dir
	past := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	type moves struct{ m, c bool }
	const (
		same = iota
		moved
		setPast
	)
	for _, tc := range []struct {
		name    string
		setup   string // shell, in a fresh directory d holding file f and directory e
		op      string // shell, in d's parent
		target  string // the name whose times are checked ("" for none)
		tm, tc  int    // target's mtime and ctime: same, moved or setPast
		dirs    []string
		dm, dct bool // whether the dirs' mtime and ctime move
		others  []string
	}{
		{name: "write", op: "echo more >> d/f", target: "d/f", tm: moved, tc: moved, others: []string{"d"}},
		{name: "truncate", op: "truncate -s 2 d/f", target: "d/f", tm: moved, tc: moved, others: []string{"d"}},
		{name: "chmod", op: "chmod 600 d/f", target: "d/f", tm: same, tc: moved, others: []string{"d"}},
		{name: "chown", op: "chown 123:456 d/f", target: "d/f", tm: same, tc: moved, others: []string{"d"}},
		{name: "utimes", op: "touch -d 2001-02-03T04:05:06Z d/f", target: "d/f", tm: setPast, tc: moved, others: []string{"d"}},
		{name: "setxattr", op: "setfattr -n user.k -v v d/f", target: "d/f", tm: same, tc: moved, others: []string{"d"}},
		{name: "rename in a directory", op: "mv d/f d/g", target: "d/g", tm: same, tc: moved, dirs: []string{"d"}, dm: true, dct: true},
		{name: "rename across directories", op: "mv d/f d/e/f", target: "d/e/f", tm: same, tc: moved, dirs: []string{"d", "d/e"}, dm: true, dct: true},
		{name: "create", op: "touch d/new", dirs: []string{"d"}, dm: true, dct: true, others: []string{"d/f"}},
		{name: "unlink", op: "rm d/f", dirs: []string{"d"}, dm: true, dct: true},
		{name: "mkdir", op: "mkdir d/sub", dirs: []string{"d"}, dm: true, dct: true, others: []string{"d/e"}},
		{name: "rmdir", op: "rmdir d/e", dirs: []string{"d"}, dm: true, dct: true},
		{name: "symlink", op: "ln -s f d/l", dirs: []string{"d"}, dm: true, dct: true},
		{name: "mkfifo", op: "mkfifo d/p", dirs: []string{"d"}, dm: true, dct: true},
		{name: "rename a directory", op: "mv d/e d/e2", target: "d/e2", tm: same, tc: moved, dirs: []string{"d"}, dm: true, dct: true},
		{name: "chmod a directory", op: "chmod 700 d/e", target: "d/e", tm: same, tc: moved, others: []string{"d"}},
		{name: "utimes on a directory", op: "touch -d 2001-02-03T04:05:06Z d/e", target: "d/e", tm: setPast, tc: moved, others: []string{"d"}},
		{name: "setxattr on a directory", op: "setfattr -n user.k -v v d/e", target: "d/e", tm: same, tc: moved, others: []string{"d"}},
		{name: "read", op: "cat d/f >/dev/null; ls d >/dev/null", others: []string{"d", "d/f", "d/e"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := filepath.Join(m, "t-"+filepath.Base(t.Name()))
			sh(t, m, "mkdir '"+root+"' && cd '"+root+"' && mkdir -p d/e && echo data > d/f && touch -d 2010-01-01 d/f d/e d")
			time.Sleep(50 * time.Millisecond)
			check := append(append([]string{tc.target}, tc.dirs...), tc.others...)
			before := map[string]times{}
			for _, p := range check {
				if p != "" {
					src := p
					if tc.target == p && tc.op != "" && (tc.name == "rename in a directory" || tc.name == "rename across directories") {
						src = "d/f"
					}
					if tc.name == "rename a directory" && p == "d/e2" {
						src = "d/e"
					}
					before[p] = statTimes(t, filepath.Join(root, src))
				}
			}
			start := time.Now()
			time.Sleep(20 * time.Millisecond)
			sh(t, root, tc.op)
			after := func(p string) times { return statTimes(t, filepath.Join(root, p)) }
			want := func(p, what string, got, was time.Time, how int) {
				t.Helper()
				switch how {
				case same:
					if !got.Equal(was) {
						t.Errorf("%s %s moved: %v -> %v", p, what, was, got)
					}
				case moved:
					if got.Before(start) {
						t.Errorf("%s %s did not move: %v (was %v, op at %v)", p, what, got, was, start)
					}
				case setPast:
					if !got.Equal(past) {
						t.Errorf("%s %s = %v, want %v", p, what, got, past)
					}
				}
			}
			if tc.target != "" {
				a := after(tc.target)
				want(tc.target, "mtime", a.m, before[tc.target].m, tc.tm)
				want(tc.target, "ctime", a.c, before[tc.target].c, tc.tc)
			}
			for _, d := range tc.dirs {
				a := after(d)
				want(d, "mtime", a.m, before[d].m, map[bool]int{true: moved, false: same}[tc.dm])
				want(d, "ctime", a.c, before[d].c, map[bool]int{true: moved, false: same}[tc.dct])
			}
			for _, o := range tc.others {
				if _, err := os.Lstat(filepath.Join(root, o)); err != nil {
					continue
				}
				a := after(o)
				want(o, "mtime", a.m, before[o].m, same)
				want(o, "ctime", a.c, before[o].c, same)
			}
		})
	}
}

// TestCtimeAfterRemount: a file's ctime is its version's upload time and
// survives a remount; a directory that keeps a marker keeps the mtime set
// on it, and entry changes made during a mount are not stored
// (docs/posix.md).
func TestCtimeAfterRemount(t *testing.T) {
	w := newWriteEnv(t, "--metadata-delay", "0")
	m := w.m.Dir
	sh(t, m, "mkdir d set && echo x > d/f && touch -d 2005-01-01 d/f && chmod 600 d/f && chmod 700 set && touch -d 2001-02-03T04:05:06Z set")
	time.Sleep(50 * time.Millisecond)
	sh(t, m, "touch d/new set/new")
	f1, d1, s1 := statTimes(t, filepath.Join(m, "d/f")), statTimes(t, filepath.Join(m, "d")), statTimes(t, filepath.Join(m, "set"))
	if !f1.m.Equal(time.Date(2005, 1, 1, 0, 0, 0, 0, time.Local)) || f1.c.Year() < 2020 {
		t.Fatalf("d/f times before remount: %+v", f1)
	}
	if s1.m.Year() < 2020 || d1.m.Year() < 2020 {
		t.Fatalf("directories' mtime did not move on create: d %+v set %+v", d1, s1)
	}
	w.m.stop(t)
	w2 := mountWrite(t, w.ts, "wbucket")
	f2, s2 := statTimes(t, filepath.Join(w2.m.Dir, "d/f")), statTimes(t, filepath.Join(w2.m.Dir, "set"))
	if !f2.m.Equal(f1.m) || f2.c.Sub(f1.c).Abs() > 2*time.Second {
		t.Errorf("d/f after remount %+v, before %+v (ctime should survive within the copy's delay)", f2, f1)
	}
	// The mtime set with utimes survives; the later create's does not.
	if !s2.m.Equal(time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)) {
		t.Errorf("set's mtime after remount = %v, want the time set with touch", s2.m)
	}
	if s2.c.Before(s2.m) {
		t.Errorf("set's ctime %v before its mtime %v", s2.c, s2.m)
	}
}
