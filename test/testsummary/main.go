// Command testsummary reads `go test -json` on stdin, prints a readable
// report, and exits non-zero when the run is not a full success.
//
//	go test -race -json ./... | go run ./test/testsummary [-partial]
//
// It prints one "ok"/"FAIL" line per package, the complete output of every
// failed test (its log, race reports, panics), one line per skipped test with
// the reason, and at the end the counts. The last line is always
//
//	N passed, N failed, N skipped
//
// (subtests count like tests). The exit status is 1 when a test or a package
// failed, and also when a test was skipped, unless -partial is given: a run
// that skipped tests because FUSE or a tool was missing has not tested
// b2fs. scripts/test.sh pipes its tests through this command.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"
)

func main() {
	partial := flag.Bool("partial", false, "skipped tests do not make the run fail")
	flag.Parse()
	os.Exit(summarize(os.Stdin, os.Stdout, *partial))
}

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Time       time.Time
	Action     string
	Package    string
	Test       string
	Elapsed    float64
	Output     string
	ImportPath string // build-output events
}

type testKey struct{ pkg, test string }

// report accumulates the run.
type report struct {
	out                     io.Writer
	running                 map[testKey][]string // output of tests not yet finished
	pkgOut                  map[string][]string  // package-level output
	passed, failed, skipped int
	failedPkgs              []string
	skips                   []string // "pkg.Test: reason"
}

// summarize reads events from r, writes the report to w and returns the
// exit status.
func summarize(r io.Reader, w io.Writer, partial bool) int {
	rep := &report{out: w, running: map[testKey][]string{}, pkgOut: map[string][]string{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var ev event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &ev) != nil {
			// Not an event (go test's own errors, e.g. a pattern that
			// matches nothing): pass it on.
			fmt.Fprintf(w, "%s\n", line)
			continue
		}
		rep.add(ev)
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintf(w, "testsummary: reading go test -json: %v\n", err)
		rep.failedPkgs = append(rep.failedPkgs, "(input)")
	}
	return rep.finish(partial)
}

func (r *report) add(ev event) {
	if ev.Action == "build-output" {
		fmt.Fprint(r.out, ev.Output)
		return
	}
	if ev.Test == "" {
		r.addPackage(ev)
		return
	}
	k := testKey{ev.Package, ev.Test}
	switch ev.Action {
	case "run":
		r.running[k] = nil
	case "output":
		r.running[k] = append(r.running[k], ev.Output)
	case "pass":
		r.passed++
		delete(r.running, k)
	case "fail":
		r.failed++
		r.printTest(k, r.running[k])
		delete(r.running, k)
	case "skip":
		r.skipped++
		reason := skipReason(r.running[k])
		r.skips = append(r.skips, fmt.Sprintf("%s.%s: %s", shortPkg(ev.Package), ev.Test, reason))
		fmt.Fprintf(r.out, "--- SKIP: %s (%s): %s\n", ev.Test, shortPkg(ev.Package), reason)
		delete(r.running, k)
	}
}

func (r *report) addPackage(ev event) {
	p := ev.Package
	switch ev.Action {
	case "output":
		r.pkgOut[p] = append(r.pkgOut[p], ev.Output)
	case "pass", "skip":
		// The last output line is "ok ..." or "? ... [no test files]".
		if o := r.pkgOut[p]; len(o) > 0 {
			fmt.Fprint(r.out, o[len(o)-1])
		}
		delete(r.pkgOut, p)
	case "fail":
		// Tests still running when the package failed (a panic, a
		// timeout) did not pass: show what they printed.
		var stuck []testKey
		for k := range r.running {
			if k.pkg == p {
				stuck = append(stuck, k)
			}
		}
		sort.Slice(stuck, func(i, j int) bool { return stuck[i].test < stuck[j].test })
		for _, k := range stuck {
			r.failed++
			r.printTest(k, append(r.running[k], "--- FAIL: "+k.test+" (did not finish)\n"))
			delete(r.running, k)
		}
		for _, l := range r.pkgOut[p] {
			fmt.Fprint(r.out, l)
		}
		delete(r.pkgOut, p)
		r.failedPkgs = append(r.failedPkgs, p)
	}
}

func (r *report) printTest(k testKey, out []string) {
	fmt.Fprintf(r.out, "=== FAIL %s (%s) output:\n", k.test, shortPkg(k.pkg))
	for _, l := range out {
		fmt.Fprint(r.out, l)
	}
}

// finish prints the summary and returns the exit status.
func (r *report) finish(partial bool) int {
	// Tests without an end event (the input was cut short).
	for k, out := range r.running {
		r.failed++
		r.printTest(k, append(out, "--- FAIL: "+k.test+" (no result)\n"))
	}
	status := 0
	fmt.Fprintf(r.out, "\n== %d tests run\n", r.passed+r.failed+r.skipped)
	if len(r.failedPkgs) > 0 || r.failed > 0 {
		status = 1
		if len(r.failedPkgs) > 0 {
			fmt.Fprintf(r.out, "FAIL: %s\n", strings.Join(r.failedPkgs, " "))
		}
	}
	if r.skipped > 0 {
		if partial {
			fmt.Fprintf(r.out, "partial run: %d skipped tests accepted\n", r.skipped)
		} else {
			status = 1
			fmt.Fprintf(r.out, "FAIL: %d skipped (first: %s)\n", r.skipped, r.skips[0])
			fmt.Fprintf(r.out, "hint: install what is missing (scripts/test.sh does on Debian), or accept skips with scripts/test.sh --partial\n")
		}
	}
	fmt.Fprintf(r.out, "%d passed, %d failed, %d skipped\n", r.passed, r.failed, r.skipped)
	return status
}

// skipReason picks the message of t.Skip from a skipped test's output.
func skipReason(out []string) string {
	var msg []string
	for _, l := range out {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "=== ") || strings.HasPrefix(t, "--- SKIP") {
			continue
		}
		msg = append(msg, t)
	}
	if len(msg) == 0 {
		return "no reason given"
	}
	// "file_test.go:12: requirement missing: ..." -> the message.
	last := msg[len(msg)-1]
	if i := strings.Index(last, ".go:"); i >= 0 {
		if j := strings.Index(last[i+4:], ": "); j >= 0 {
			last = last[i+4+j+2:]
		}
	}
	return last
}

// shortPkg drops the module path.
func shortPkg(p string) string {
	return strings.TrimPrefix(p, "github.com/b2fs/b2fs/")
}
