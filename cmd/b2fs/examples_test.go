package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// The tests in this file parse every b2fs command line the project shows
// its users (the systemd unit's ExecStart, the README, docs/, the unit's
// example configuration, the --help text) with the binary's own parser,
// parseArgs, so that no documented value can drift from what b2fs accepts.

// example is one command line found in a document.
type example struct {
	where string // file:line
	text  string
}

// exampleKind says how checkExample treats a command line.
type exampleKind int

const (
	notB2fs  exampleKind = iota // some other program
	b2fsCmd                     // b2fs [flags] ...
	helper                      // mount -t fuse.b2fs ..., mount.fuse.b2fs ...
	fstab                       // SOURCE MOUNTPOINT fuse.b2fs OPTIONS ...
	flagSpan                    // `--flag=value` or `-o opts` standing alone
	synopsis                    // a usage line with placeholders
)

// shellWords splits a command line like sh does (quotes, backslashes,
// comments), with &&, ||, ; and | as separate tokens. $NAME and ${NAME} are
// replaced from env when known and kept as written otherwise.
func shellWords(s string, env map[string]string) []string {
	var out []string
	var cur strings.Builder
	in := false // a word is being built
	flush := func() {
		if in {
			out = append(out, cur.String())
		}
		cur.Reset()
		in = false
	}
	expand := func(i int) int { // s[i] == '$'; returns the index after the name
		j := i + 1
		braced := j < len(s) && s[j] == '{'
		if braced {
			j++
		}
		k := j
		for k < len(s) && (s[k] == '_' || s[k] >= 'A' && s[k] <= 'Z' || s[k] >= 'a' && s[k] <= 'z' || s[k] >= '0' && s[k] <= '9') {
			k++
		}
		name := s[j:k]
		end := k
		if braced {
			if k < len(s) && s[k] == '}' {
				end = k + 1
			} else {
				name = ""
			}
		}
		if v, ok := env[name]; ok && name != "" {
			cur.WriteString(v)
		} else {
			cur.WriteString(s[i:end])
			if end == i+1 {
				return i + 1
			}
		}
		return end
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			flush()
			i++
		case c == '#' && !in:
			flush()
			return out
		case c == '&' && i+1 < len(s) && s[i+1] == '&', c == '|' && i+1 < len(s) && s[i+1] == '|':
			flush()
			out = append(out, s[i:i+2])
			i += 2
		case c == ';' || c == '|':
			flush()
			out = append(out, s[i:i+1])
			i++
		case c == '\\' && i+1 < len(s):
			cur.WriteByte(s[i+1])
			in = true
			i += 2
		case c == '\'':
			in = true
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				cur.WriteString(s[i+1:])
				i = len(s)
			} else {
				cur.WriteString(s[i+1 : i+1+j])
				i += j + 2
			}
		case c == '"':
			in = true
			i++
			for i < len(s) && s[i] != '"' {
				switch {
				case s[i] == '\\' && i+1 < len(s):
					cur.WriteByte(s[i+1])
					i += 2
				case s[i] == '$':
					i = expand(i)
				default:
					cur.WriteByte(s[i])
					i++
				}
			}
			i++
		case c == '$':
			in = true
			i = expand(i)
		default:
			cur.WriteByte(c)
			in = true
			i++
		}
	}
	flush()
	return out
}

// commands splits words at &&, ||, ; and | into simple commands, dropping
// leading variable assignments and wrappers (sudo, exec, nohup, time).
func commands(words []string) [][]string {
	var out [][]string
	var cur []string
	for _, w := range append(words, ";") {
		switch w {
		case "&&", "||", ";", "|":
			for len(cur) > 0 && (strings.Contains(cur[0], "=") && !strings.HasPrefix(cur[0], "-") || cur[0] == "sudo" || cur[0] == "exec" || cur[0] == "nohup" || cur[0] == "time" || cur[0] == "$") {
				cur = cur[1:]
			}
			if len(cur) > 0 {
				out = append(out, cur)
			}
			cur = nil
		default:
			cur = append(cur, w)
		}
	}
	return out
}

// placeholder matches an upper-case placeholder (FILE, N, BUCKET) as a
// word, a value or a path element.
var placeholder = regexp.MustCompile(`(^|[=,/])[A-Z][A-Z0-9_]*($|[,/\]])`)

// classify says what kind of b2fs command line words is.
func classify(words []string) exampleKind {
	if len(words) == 0 {
		return notB2fs
	}
	kind := notB2fs
	base := filepath.Base(words[0])
	switch {
	case base == "b2fs" && len(words) > 1:
		kind = b2fsCmd
	case base == "mount.fuse.b2fs":
		kind = helper
	case base == "mount":
		for i := 1; i+1 < len(words); i++ {
			if words[i] == "-t" && words[i+1] == "fuse.b2fs" {
				kind = helper
			}
		}
	case len(words) >= 4 && words[2] == "fuse.b2fs":
		kind = fstab
	case strings.HasPrefix(words[0], "--") && len(words[0]) > 2, words[0] == "-o" && len(words) == 2:
		kind = flagSpan
	}
	if kind == notB2fs {
		return kind
	}
	for _, w := range words {
		if strings.ContainsAny(w, "[]") || strings.Contains(w, "...") || strings.Contains(w, "…") || placeholder.MatchString(w) || w == "->" || w == "→" {
			return synopsis
		}
	}
	fl := newFlagSet(&config{})
	positional := 0
	for i := 1; i < len(words); i++ {
		w := words[i]
		switch {
		case w == "-o" || w == "-t":
			i++
		case strings.HasPrefix(w, "--"):
			name, _, hasVal := strings.Cut(w[2:], "=")
			if f := fl.Lookup(name); !hasVal && f != nil && f.Value.Type() != "bool" {
				i++
			}
		case !strings.HasPrefix(w, "-"):
			positional++
		}
	}
	// "b2fs --demo" or "mount -t fuse.b2fs" in prose names the command
	// without a mount point: only its flags are checked.
	if (kind == b2fsCmd || kind == helper) && positional == 0 {
		return synopsis
	}
	if kind == flagSpan && strings.HasSuffix(words[len(words)-1], "=") {
		return synopsis // "-o uid=", "--uid=": the name only
	}
	return kind
}

// checkWords parses one command line the way b2fs would see it and returns
// the binary's objection, if any.
func checkWords(words []string) error {
	var args []string
	kind := classify(words)
	if (kind == b2fsCmd || kind == synopsis) && len(words) > 1 && filepath.Base(words[0]) == "b2fs" && isControlCommand(words[1]) {
		return checkControlWords(words[1:], kind == synopsis)
	}
	switch kind {
	case b2fsCmd:
		args = words[1:]
	case helper:
		rest := words[1:]
		if filepath.Base(words[0]) == "mount" {
			rest = nil
			for i := 1; i < len(words); i++ {
				if words[i] == "-t" && i+1 < len(words) && words[i+1] == "fuse.b2fs" {
					i++
					continue
				}
				rest = append(rest, words[i])
			}
		}
		a, fake, err := helperArgs(rest)
		if err != nil {
			return err
		}
		if fake {
			return nil
		}
		args = a
	case fstab:
		a, _, err := helperArgs([]string{words[0], words[1], "-o", words[3]})
		if err != nil {
			return err
		}
		args = a
	case flagSpan:
		name, _, hasVal := strings.Cut(strings.TrimPrefix(words[0], "--"), "=")
		if words[0] != "-o" {
			f := newFlagSet(&config{}).Lookup(name)
			if f == nil {
				return nil // another program's flag
			}
			if !hasVal && len(words) == 1 {
				return nil // the name alone: it exists
			}
		}
		args = append(append([]string{}, words...), "/mnt/x")
	case synopsis:
		// Placeholders: every long flag a b2fs command line names must
		// exist; a lone flag of another program is not b2fs's business.
		fl := newFlagSet(&config{})
		if strings.HasPrefix(words[0], "-") {
			words = words[:1]
			if words[0] == "-o" {
				return nil
			}
			if name, _, _ := strings.Cut(strings.TrimPrefix(words[0], "--"), "="); fl.Lookup(name) == nil {
				return nil
			}
		}
		for _, w := range words {
			w = strings.Trim(w, "[]")
			if strings.HasPrefix(w, "--") && len(w) > 2 {
				name, _, _ := strings.Cut(w[2:], "=")
				if fl.Lookup(name) == nil && name != "help" {
					return fmt.Errorf("unknown flag --%s", name)
				}
			}
		}
		return nil
	default:
		return nil
	}
	_, err := parseArgs(args, io.Discard)
	if errors.Is(err, pflag.ErrHelp) || errors.Is(err, errVersion) {
		return nil
	}
	return err
}

// checkControlWords checks "sync ..." or "status ...": parsed as b2fs
// would, or for a synopsis, every long flag named must exist.
func checkControlWords(words []string, synopsis bool) error {
	if !synopsis {
		// "b2fs sync" in prose names the command: its flags are checked.
		fl := controlFlagSet(words[0], &controlArgs{})
		fl.SetOutput(io.Discard)
		if err := fl.Parse(words[1:]); err == nil && fl.NArg() == 0 {
			return nil
		}
		_, err := parseControlArgs(words, io.Discard)
		if errors.Is(err, pflag.ErrHelp) {
			return nil
		}
		return err
	}
	fl := controlFlagSet(words[0], &controlArgs{})
	for _, w := range words[1:] {
		w = strings.Trim(w, "[]")
		if strings.HasPrefix(w, "--") && len(w) > 2 {
			if name, _, _ := strings.Cut(w[2:], "="); fl.Lookup(name) == nil && name != "help" {
				return fmt.Errorf("b2fs %s: unknown flag --%s", words[0], name)
			}
		}
	}
	return nil
}

// markdownExamples finds the command lines of a Markdown document: every
// line of a fenced code block and every inline code span.
func markdownExamples(name, text string, env map[string]string) []example {
	var out []example
	lines := strings.Split(text, "\n")
	fenced := false
	var para []string
	paraStart := 0
	endPara := func() {
		joined := strings.Join(para, " ")
		for _, m := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(joined, -1) {
			out = append(out, example{fmt.Sprintf("%s:%d", name, paraStart), m[1]})
		}
		para = nil
	}
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			endPara()
			fenced = !fenced
			continue
		}
		if fenced {
			start := i
			for strings.HasSuffix(l, "\\") && i+1 < len(lines) {
				i++
				l = strings.TrimSuffix(l, "\\") + " " + lines[i]
			}
			out = append(out, example{fmt.Sprintf("%s:%d", name, start+1), strings.TrimPrefix(strings.TrimSpace(l), "$ ")})
			continue
		}
		if strings.TrimSpace(l) == "" {
			endPara()
			continue
		}
		if len(para) == 0 {
			paraStart = i + 1
		}
		para = append(para, strings.TrimSpace(l))
	}
	endPara()
	_ = env
	return out
}

// helpExamples finds the command lines of the --help text: the indented
// lines of its examples and fstab sections, without their explanations.
func helpExamples() []example {
	var b strings.Builder
	fl := newFlagSet(&config{})
	printUsage(&b, fl)
	var out []example
	section := ""
	for i, l := range strings.Split(b.String(), "\n") {
		switch {
		case strings.HasPrefix(l, "usage:"):
			section = "usage"
			l = strings.TrimPrefix(l, "usage:")
		case l != "" && !strings.HasPrefix(l, " "):
			section = strings.TrimSuffix(l, ":")
			continue
		}
		if section != "usage" && section != "examples" && section != "fstab" {
			continue
		}
		cmd := strings.TrimSpace(l)
		if section != "fstab" {
			cmd = regexp.MustCompile(`\s{2,}`).Split(cmd, -1)[0]
		}
		if cmd != "" {
			out = append(out, example{fmt.Sprintf("--help:%d", i+1), cmd})
		}
	}
	return out
}

// unitFile is a parsed systemd unit: section.key -> values in order.
type unitFile map[string][]string

func parseUnit(t *testing.T, path string) unitFile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u := unitFile{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || l[0] == '#' || l[0] == ';' {
			continue
		}
		if l[0] == '[' {
			section = strings.Trim(l, "[]")
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			t.Fatalf("%s: bad line %q", path, l)
		}
		u[section+"."+strings.TrimSpace(k)] = append(u[section+"."+strings.TrimSpace(k)], strings.TrimSpace(v))
	}
	return u
}

func (u unitFile) one(t *testing.T, key string) string {
	t.Helper()
	v := u[key]
	if len(v) != 1 {
		t.Fatalf("unit: want exactly one %s, have %q", key, v)
	}
	return v[0]
}

// systemdSpan parses a systemd time span ("6min", "1min 30s", "10s", "90").
func systemdSpan(s string) (time.Duration, error) {
	units := map[string]time.Duration{
		"us": time.Microsecond, "usec": time.Microsecond, "ms": time.Millisecond, "msec": time.Millisecond,
		"": time.Second, "s": time.Second, "sec": time.Second, "second": time.Second, "seconds": time.Second,
		"m": time.Minute, "min": time.Minute, "minute": time.Minute, "minutes": time.Minute,
		"h": time.Hour, "hr": time.Hour, "hour": time.Hour, "hours": time.Hour, "d": 24 * time.Hour, "day": 24 * time.Hour, "days": 24 * time.Hour,
	}
	var total time.Duration
	re := regexp.MustCompile(`^\s*([0-9]+)\s*([a-z]*)`)
	rest := s
	for strings.TrimSpace(rest) != "" {
		m := re.FindStringSubmatch(rest)
		if m == nil {
			return 0, fmt.Errorf("bad time span %q", s)
		}
		n, _ := strconv.Atoi(m[1])
		unit, ok := units[m[2]]
		if !ok {
			return 0, fmt.Errorf("bad time unit in %q", s)
		}
		total += time.Duration(n) * unit
		rest = rest[len(m[0]):]
	}
	return total, nil
}

// envFile reads KEY=VALUE lines like systemd's EnvironmentFile=.
func envFile(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || l[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			t.Fatalf("%s: bad line %q", path, l)
		}
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		env[k] = v
	}
	return env
}

// execStartWords expands an ExecStart= line as systemd does: %i, ${NAME}
// as one word, $NAME split at white space.
func execStartWords(line, instance string, env map[string]string) []string {
	line = strings.TrimLeft(line, "-@:+!")
	line = strings.ReplaceAll(line, "%i", instance)
	line = strings.ReplaceAll(line, "%%", "%")
	var out []string
	for _, w := range strings.Fields(line) {
		switch {
		case strings.HasPrefix(w, "$") && !strings.HasPrefix(w, "${"):
			out = append(out, strings.Fields(env[w[1:]])...)
		default:
			w = regexp.MustCompile(`\$\{([A-Za-z0-9_]+)\}`).ReplaceAllStringFunc(w, func(m string) string {
				return env[m[2:len(m)-1]]
			})
			out = append(out, w)
		}
	}
	return out
}

const repo = "../.."

// TestUnitExecStartParses: the shipped unit's ExecStart, expanded with the
// example configuration the way systemd expands it, is accepted by b2fs,
// and the unit's timeouts and restart policy fit the binary.
func TestUnitExecStartParses(t *testing.T) {
	u := parseUnit(t, filepath.Join(repo, "scripts/systemd/b2fs@.service"))
	env := envFile(t, filepath.Join(repo, "scripts/systemd/b2fs.conf.example"))
	env["CREDENTIALS_DIRECTORY"] = "/run/credentials/b2fs@media.service"
	env["CACHE_DIRECTORY"] = "/var/cache/b2fs/media"
	words := execStartWords(u.one(t, "Service.ExecStart"), "media", env)
	if filepath.Base(words[0]) != "b2fs" {
		t.Fatalf("ExecStart runs %s, not b2fs", words[0])
	}
	cfg, err := parseArgs(words[1:], io.Discard)
	if err != nil {
		t.Fatalf("b2fs refuses the unit's command line %q: %v", words, err)
	}
	if cfg.credentialsFile != "/run/credentials/b2fs@media.service/b2" || cfg.write.cacheDir != "/var/cache/b2fs/media" || cfg.source != env["B2FS_SOURCE"] || cfg.mountpoint != env["B2FS_MOUNTPOINT"] {
		t.Errorf("unit's command line parsed to credentials %q cache %q source %q mountpoint %q", cfg.credentialsFile, cfg.write.cacheDir, cfg.source, cfg.mountpoint)
	}

	// Stopping: systemd must wait longer than b2fs's own drain limit.
	stop, err := systemdSpan(u.one(t, "Service.TimeoutStopSec"))
	if err != nil {
		t.Fatal(err)
	}
	if stop < cfg.svc.shutdownTimeout+30*time.Second {
		t.Errorf("TimeoutStopSec=%v does not exceed --shutdown-timeout=%v by at least 30s", stop, cfg.svc.shutdownTimeout)
	}
	// A usage error (exit 2) is not restarted.
	if code := run([]string{"--no-such-flag", "/mnt/x"}, func(string) string { return "" }, io.Discard, io.Discard); code != 2 {
		t.Fatalf("usage error exits %d, want 2", code)
	}
	if !strings.Contains(" "+u.one(t, "Service.RestartPreventExitStatus")+" ", " 2 ") {
		t.Errorf("RestartPreventExitStatus=%q does not hold 2 (usage errors)", u.one(t, "Service.RestartPreventExitStatus"))
	}
	// The Go runtime also exits 2 after a panic or a SIGABRT (the
	// watchdog's signal); GOTRACEBACK=crash makes those die by the signal,
	// so that they are restarted, and LimitCORE=0 keeps the key out of a
	// core file.
	if !strings.Contains(strings.Join(u["Service.Environment"], " "), "GOTRACEBACK=crash") || u.one(t, "Service.LimitCORE") != "0" {
		t.Errorf("the unit lacks Environment=GOTRACEBACK=crash and LimitCORE=0: a panic or a watchdog abort would exit 2 and never be restarted")
	}
	// A configuration that fails at once must trip the start limit: the
	// burst of starts, RestartSec apart, fits inside the interval.
	restart, err := systemdSpan(u.one(t, "Service.RestartSec"))
	if err != nil {
		t.Fatal(err)
	}
	interval, err := systemdSpan(u.one(t, "Unit.StartLimitIntervalSec"))
	if err != nil {
		t.Fatal(err)
	}
	burst, err := strconv.Atoi(u.one(t, "Unit.StartLimitBurst"))
	if err != nil || burst < 1 {
		t.Fatalf("StartLimitBurst=%q", u.one(t, "Unit.StartLimitBurst"))
	}
	// Starting: systemd must wait longer than b2fs's start: the wait for
	// B2 (--startup-timeout) and the rest of the start (startupTimeout).
	start, err := systemdSpan(u.one(t, "Service.TimeoutStartSec"))
	if err != nil {
		t.Fatal(err)
	}
	if start <= cfg.svc.startupTimeout+startupTimeout {
		t.Errorf("TimeoutStartSec=%v does not exceed --startup-timeout=%v plus the rest of the start (%v)", start, cfg.svc.startupTimeout, startupTimeout)
	}
	// The start limit must not stop the retries while B2 is unreachable:
	// such a failing start takes --startup-timeout.
	if cfg.svc.startupTimeout > 0 && time.Duration(burst)*(restart+cfg.svc.startupTimeout) <= interval {
		t.Errorf("%d starts that each wait --startup-timeout=%v fit in StartLimitIntervalSec=%v: an unreachable B2 would stop the unit for good", burst, cfg.svc.startupTimeout, interval)
	}
	if time.Duration(burst)*(restart+time.Second) >= interval {
		t.Errorf("%d starts %v apart take longer than StartLimitIntervalSec=%v: the start limit never trips", burst, restart, interval)
	}
	if u.one(t, "Service.WatchdogSec") == "" {
		t.Error("no WatchdogSec")
	}
}

// docFiles are the documents whose b2fs command lines are checked.
func docFiles(t *testing.T) []string {
	files := []string{filepath.Join(repo, "README.md")}
	md, err := filepath.Glob(filepath.Join(repo, "docs/*.md"))
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, md...)
	sys, err := filepath.Glob(filepath.Join(repo, "scripts/systemd/*"))
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, sys...)
	pkg, _ := filepath.Glob(filepath.Join(repo, "scripts/debian/*"))
	return append(append(files, pkg...), filepath.Join(repo, "scripts/install.sh"))
}

// docEnv gives the variables documents use in examples sample values.
var docEnv = map[string]string{
	"CREDENTIALS_DIRECTORY": "/run/credentials/b2fs@media.service",
	"CACHE_DIRECTORY":       "/var/cache/b2fs/media",
	"HOME":                  "/root",
}

// TestDocumentedCommandLinesParse: every b2fs command line in the README,
// docs/, scripts/systemd/ and the --help text is accepted by b2fs's parser.
func TestDocumentedCommandLinesParse(t *testing.T) {
	var all []example
	for _, f := range docFiles(t) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(repo, f)
		if strings.HasSuffix(f, ".md") {
			all = append(all, markdownExamples(rel, string(b), docEnv)...)
			continue
		}
		// Scripts, units and configuration: the indented lines (examples
		// in comments, here-documents); the unit's ExecStart has its own
		// test.
		for i, l := range strings.Split(string(b), "\n") {
			l = strings.TrimPrefix(l, "#")
			if strings.HasPrefix(l, "  ") || strings.HasPrefix(l, "\t") {
				all = append(all, example{fmt.Sprintf("%s:%d", rel, i+1), strings.TrimSpace(l)})
			}
		}
	}
	all = append(all, helpExamples()...)
	counts := map[exampleKind]int{}
	for _, ex := range all {
		for _, words := range commands(shellWords(ex.text, docEnv)) {
			k := classify(words)
			if k == notB2fs {
				continue
			}
			counts[k]++
			if os.Getenv("B2FS_SHOW_EXAMPLES") != "" {
				t.Logf("%s: kind %d: %q", ex.where, k, words)
			}
			if err := checkWords(words); err != nil {
				t.Errorf("%s: b2fs refuses %q: %v", ex.where, ex.text, err)
			}
		}
	}
	t.Logf("checked: %d b2fs commands, %d mount helper calls, %d fstab lines, %d flag values, %d synopses",
		counts[b2fsCmd], counts[helper], counts[fstab], counts[flagSpan], counts[synopsis])
	// The extraction itself must find the examples known to exist.
	if counts[b2fsCmd] < 5 || counts[helper] < 2 || counts[fstab] < 2 || counts[flagSpan] < 3 {
		t.Errorf("found too few examples (%v): the extraction is broken", counts)
	}
}

// TestExampleCheckerRejects: the checker fails on values b2fs refuses,
// in every form it extracts.
func TestExampleCheckerRejects(t *testing.T) {
	bad := []string{
		"b2fs --shutdown-timeout=5min my-bucket /mnt/b2",
		"bin/b2fs --no-such-flag /mnt/b2",
		"mount -t fuse.b2fs my-bucket /mnt/b2 -o shutdown-timeout=5min",
		"mount.fuse.b2fs my-bucket /mnt/b2 -o nosuchoption",
		"my-bucket /mnt/b2 fuse.b2fs _netdev,read-ahead-max=lots 0 0",
		"--shutdown-timeout=5min",
		"--log-level loud",
		"-o dir-cache-ttl=forever",
		"b2fs --no-such-flag [BUCKET] MOUNTPOINT",
		`sudo B2_X=1 b2fs --credentials-file "$CREDENTIALS_DIRECTORY/b2" a b c`,
		"b2fs sync --json /mnt/b2",
		"b2fs sync --timeout=soon /mnt/b2",
		"b2fs status /mnt/a /mnt/b",
		"b2fs status --no-such-flag MOUNTPOINT",
	}
	for _, s := range bad {
		cmds := commands(shellWords(s, docEnv))
		if len(cmds) != 1 {
			t.Fatalf("%q: %d commands", s, len(cmds))
		}
		if err := checkWords(cmds[0]); err == nil {
			t.Errorf("checker accepted %q", s)
		}
	}
	good := []string{
		"b2fs --shutdown-timeout=5m my-bucket /mnt/b2",
		"go build ./cmd/... && bin/b2fs --demo /mnt/demo",
		"my-bucket /mnt/b2 fuse.b2fs _netdev,x-systemd.automount 0 0",
		"b2fs --help",
		"b2fs sync --timeout 10m /mnt/b2",
		"b2fs status --json /mnt/b2",
		"b2fs sync [--timeout DURATION] MOUNTPOINT",
	}
	for _, s := range good {
		for _, w := range commands(shellWords(s, docEnv)) {
			if err := checkWords(w); err != nil {
				t.Errorf("checker refused %q: %v", s, err)
			}
		}
	}
	// The unit expansion splits $VAR and keeps ${VAR} whole.
	w := execStartWords("/usr/bin/b2fs --x=${D}/b2 $OPTS ${SRC}", "i", map[string]string{"D": "/run/c", "OPTS": "-o  a,b --c", "SRC": "b k"})
	if strings.Join(w, "|") != "/usr/bin/b2fs|--x=/run/c/b2|-o|a,b|--c|b k" {
		t.Errorf("execStartWords: %q", w)
	}
	if d, err := systemdSpan("1min 30s"); err != nil || d != 90*time.Second {
		t.Errorf("systemdSpan: %v %v", d, err)
	}
	if _, err := systemdSpan("5mins"); err == nil {
		t.Error("systemdSpan accepted 5mins")
	}
}
