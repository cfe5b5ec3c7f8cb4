package crash

import (
	"strings"
	"testing"
)

// TestCheckerCatchesLossAndTornVersions makes sure the crash checks can
// fail: over b2emu alone (no mount), an acknowledged file that is missing,
// one with other bytes, one with the wrong mode, a torn version under a
// final name and a torn rsync file are all reported.
func TestCheckerCatchesLossAndTornVersions(t *testing.T) {
	e := newEnv(t, modeDefault)
	var cp, rs *workload
	for _, w := range workloads() {
		switch w.name {
		case "cp":
			cp = w
		case "rsync":
			rs = w
		}
	}
	run := &wl{files: smallTree(4)}
	var names []string
	for n := range run.files {
		names = append(names, n)
	}
	f0, f1, f2 := run.files[names[0]], run.files[names[1]], run.files[names[2]]
	put := func(name string, body []byte, info map[string]string) {
		if _, err := e.ts.PutFile(bucket, name, body, info); err != nil {
			t.Fatal(err)
		}
	}
	put("dst/"+names[0], f0.data[:len(f0.data)/2], nil)        // a prefix: a state cp's file had
	put("dst/"+names[1], append([]byte("x"), f1.data...), nil) // never a state
	put("dst/"+names[2], f2.data, map[string]string{"b2fs-mode": "777"})
	acked := map[string]expect{
		"dst/" + names[1]: {sha1: sha1Hex(f1.data), size: int64(len(f1.data))},
		"dst/" + names[2]: {sha1: sha1Hex(f2.data), size: int64(len(f2.data)), mode: 0o600},
		"dst/" + names[3]: {sha1: "0", size: 1},
	}
	bad := strings.Join(e.checkB2(cp, run, acked), "\n")
	for _, want := range []string{
		"of dst/" + names[1] + " (",
		"acknowledged dst/" + names[1] + ": B2 has",
		"acknowledged dst/" + names[2] + `: B2 has mode "777"`,
		"acknowledged dst/" + names[3] + " is not in B2",
	} {
		if !strings.Contains(bad, want) {
			t.Errorf("checker did not report %q; it reported:\n%s", want, bad)
		}
	}
	if strings.Contains(bad, "of dst/"+names[0]+" (") {
		t.Errorf("a prefix of a file cp was writing was reported as torn:\n%s", bad)
	}

	put("rs/"+names[0], f0.data[:10], nil)
	put("rs/.f.aB3dE9", []byte("temp"), nil)
	bad = strings.Join(e.checkB2(rs, run, nil), "\n")
	if !strings.Contains(bad, "of rs/"+names[0]) || strings.Contains(bad, "aB3dE9") {
		t.Errorf("rsync checks: want only the torn final name reported:\n%s", bad)
	}
}

// TestParseAcks reads strace lines of the forms cp, rsync and mv produce.
func TestParseAcks(t *testing.T) {
	a := acks{closed: map[string]bool{}, renamed: map[string]bool{}}
	for _, l := range []string{
		`close(4</m/dst/d/a>)             = 0`,
		`close(5</m/dst/b>) = -1 ENOTCONN (Transport endpoint is not connected)`,
		`renameat(3</m/rs/d>, ".a.vT4dcK", 3</m/rs/d>, "a") = 0`,
		`renameat(3</m/rs/d>, ".c.vT4dcK", 3</m/rs/d>, "c") = -1 ECONNABORTED (Software caused connection abort)`,
		`rename("x/.y.123456", "x/y") = 0`,
		`renameat2(AT_FDCWD</m/rs>, "p", AT_FDCWD</m/rs>, "q", RENAME_NOREPLACE) = 0`,
	} {
		a.parseLine(l, "/m/rs")
	}
	want := acks{closed: map[string]bool{"/m/dst/d/a": true}, renamed: map[string]bool{"/m/rs/d/a": true, "/m/rs/x/y": true, "/m/rs/q": true}}
	if len(a.closed) != len(want.closed) || len(a.renamed) != len(want.renamed) {
		t.Fatalf("got %v, want %v", a, want)
	}
	for k := range want.closed {
		if !a.closed[k] {
			t.Errorf("close of %s not seen: %v", k, a.closed)
		}
	}
	for k := range want.renamed {
		if !a.renamed[k] {
			t.Errorf("rename to %s not seen: %v", k, a.renamed)
		}
	}
}
