package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// goTestJSON runs `go test -json` on the fixture package (tests that pass,
// fail, skip for a missing tool and panic) outside CI, so that the missing
// tool skips.
func goTestJSON(t *testing.T, run string, env ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "test", "-count=1", "-json", "-run", run, "./testdata/fixture")
	cmd.Env = append(os.Environ(), append([]string{"CI="}, env...)...)
	out, err := cmd.Output()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("go test: %v", err)
	}
	return out
}

func run(t *testing.T, in []byte, partial bool) (int, string, string) {
	t.Helper()
	var out bytes.Buffer
	code := summarize(bytes.NewReader(in), &out, partial)
	s := out.String()
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	return code, s, lines[len(lines)-1]
}

// TestSummaryCountsAndFailures: a real run with a pass, a failure,
// subtests and a skipped requirement: the failure's output is shown whole,
// the skip with its reason, the last line counts them, and the run fails.
func TestSummaryCountsAndFailures(t *testing.T) {
	in := goTestJSON(t, "TestPass|TestFail|TestSub|TestRequirement")
	for _, partial := range []bool{false, true} {
		code, out, last := run(t, in, partial)
		if code != 1 {
			t.Errorf("partial=%v: status %d, want 1 (a test failed)", partial, code)
		}
		if last != "4 passed, 1 failed, 1 skipped" {
			t.Errorf("last line %q", last)
		}
		for _, want := range []string{
			"some context before the failure", "the fixture's deliberate failure", "--- FAIL: TestFail",
			`--- SKIP: TestRequirement (test/testsummary/testdata/fixture): requirement missing: tool "b2fs-no-such-tool"`,
			"FAIL\tgithub.com/b2fs/b2fs/test/testsummary/testdata/fixture", "== 6 tests run",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		if strings.Contains(out, "=== RUN   TestPass") {
			t.Errorf("output of a passing test is shown:\n%s", out)
		}
	}
}

// TestSummarySkipFailsUnlessPartial: a run whose only problem is a skipped
// requirement fails with a hint, and passes when a partial run was asked
// for.
func TestSummarySkipFailsUnlessPartial(t *testing.T) {
	in := goTestJSON(t, "TestPass|TestRequirement")
	code, out, last := run(t, in, false)
	if code != 1 || last != "1 passed, 0 failed, 1 skipped" || !strings.Contains(out, "hint: ") || !strings.Contains(out, "--partial") {
		t.Errorf("status %d, output:\n%s", code, out)
	}
	code, out, last = run(t, in, true)
	if code != 0 || last != "1 passed, 0 failed, 1 skipped" || !strings.Contains(out, "partial run: 1 skipped") {
		t.Errorf("partial: status %d, output:\n%s", code, out)
	}
	code, out, last = run(t, goTestJSON(t, "TestPass|TestSub"), false)
	if code != 0 || last != "4 passed, 0 failed, 0 skipped" || !strings.Contains(out, "ok  \tgithub.com/b2fs/b2fs/test/testsummary/testdata/fixture") {
		t.Errorf("all passing: status %d, output:\n%s", code, out)
	}
}

// TestSummaryPanicAndBuildFailure: a test that panics is counted as failed
// with its stack; a package that does not build fails the run.
func TestSummaryPanicAndBuildFailure(t *testing.T) {
	code, out, last := run(t, goTestJSON(t, "TestPass|TestPanic", "FIXTURE_PANIC=1"), false)
	if code != 1 || last != "1 passed, 1 failed, 0 skipped" || !strings.Contains(out, "panic: the fixture's deliberate panic") || !strings.Contains(out, "about to panic") {
		t.Errorf("panic: status %d, output:\n%s", code, out)
	}

	dir := t.TempDir()
	os.WriteFile(dir+"/go.mod", []byte("module broken\n\ngo 1.24\n"), 0o644)
	os.WriteFile(dir+"/x_test.go", []byte("package broken\n\nimport \"testing\"\n\nfunc TestX(t *testing.T) { undefinedThing() }\n"), 0o644)
	cmd := exec.Command("go", "test", "-json", ".")
	cmd.Dir = dir
	in, _ := cmd.Output()
	code, out, last = run(t, in, true)
	if code != 1 || last != "0 passed, 0 failed, 0 skipped" || !strings.Contains(out, "undefined: undefinedThing") || !strings.Contains(out, "FAIL: broken") {
		t.Errorf("build failure: status %d, output:\n%s", code, out)
	}
}
