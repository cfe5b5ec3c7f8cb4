package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/b2fs/b2fs/fs"
	"github.com/spf13/pflag"
)

// config is everything the command line says.
type config struct {
	credentialsFile string
	endpoint        string
	readOnly        bool
	allowOther      bool
	// defaultPermissions: the kernel checks modes and owners (on by
	// default).
	defaultPermissions bool
	// xattrs: extended attributes are served (on by default); off, the
	// kernel stops asking for them (ls -l asks twice per file).
	xattrs            bool
	uid, gid          int
	umask             int
	dirMode           uint32
	fileMode          uint32
	dirTTL            time.Duration
	attrTTL           time.Duration
	negTTL            time.Duration
	logLevel          string
	cacheEntries      int64
	listPrefetchPages int
	maxFileInodes     int
	versionsDir       string
	readAheadMax      string
	readWindowMax     string
	readChunk         string
	kernelReadAhead   string
	demo              bool
	debugFuse         bool
	cpuProfile        string
	memProfile        string
	memoryTarget      string
	write             writeConfig
	rcache            readCacheConfig
	svc               serviceConfig

	source     string // BUCKET[/PREFIX], "" for the account
	mountpoint string
}

// usageError is a command-line mistake (exit status 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func newFlagSet(c *config) *pflag.FlagSet {
	fl := pflag.NewFlagSet("b2fs", pflag.ContinueOnError)
	fl.SortFlags = false
	fl.StringVar(&c.credentialsFile, "credentials-file", "", "read B2_APPLICATION_KEY_ID and B2_APPLICATION_KEY from `FILE` (mode 0600)")
	fl.StringVar(&c.endpoint, "endpoint", "https://api.backblazeb2.com", "B2 API `URL`")
	fl.BoolVar(&c.readOnly, "read-only", false, "mount read-only")
	fl.DurationVar(&c.dirTTL, "dir-cache-ttl", time.Minute, "how long directory listings are cached")
	fl.DurationVar(&c.attrTTL, "attr-cache-ttl", time.Minute, "how long file attributes and kernel entries are cached")
	fl.DurationVar(&c.negTTL, "negative-cache-ttl", 30*time.Second, "how long \"no such file\" answers are cached")
	fl.Int64Var(&c.cacheEntries, "cache-max-entries", 200_000, "bound of the metadata cache, in entries")
	fl.IntVar(&c.maxFileInodes, "max-file-inodes", 200000, "file inodes kept for the kernel; the oldest beyond it are dropped (a name used again costs one lookup; 0: no limit)")
	fl.IntVar(&c.listPrefetchPages, "list-prefetch-pages", 2, "pages of 10,000 names fetched when a directory is first listed, to cache its whole subtree (0: list each directory on its own)")
	fl.StringVar(&c.versionsDir, "versions-dir", ".b2fs-versions", "`NAME` of the hidden read-only directory in each bucket's root with old versions and deleted files (at/TIME/, history/PATH/); \"\" turns it off")
	fl.StringVar(&c.readAheadMax, "read-ahead-max", "256MiB", "readahead memory of all open files together")
	fl.StringVar(&c.readWindowMax, "read-ahead-window", "64MiB", "largest readahead window of one open file")
	fl.StringVar(&c.readChunk, "read-chunk-size", "8MiB", "size of one ranged download; a window is fetched as parallel chunks")
	fl.StringVar(&c.kernelReadAhead, "kernel-read-ahead", "1MiB", "the kernel's readahead for the mount (sysfs read_ahead_kb; needs root)")
	fl.StringVar(&c.memoryTarget, "memory-target", "128MiB", "memory b2fs keeps its heap near: above it the garbage collector runs more often (0: Go's defaults; GOMEMLIMIT overrides)")
	fl.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	fl.BoolVar(&c.demo, "demo", false, "mount a sample bucket served by an embedded emulator (no credentials needed)")
	fl.BoolVar(&c.debugFuse, "debug-fuse", false, "log every FUSE request")
	fl.StringVar(&c.cpuProfile, "cpu-profile", "", "write a CPU profile to `FILE` until unmount")
	_ = fl.MarkHidden("cpu-profile")
	fl.StringVar(&c.memProfile, "mem-profile", "", "write a heap profile to `FILE` at unmount")
	_ = fl.MarkHidden("mem-profile")
	fl.Bool("man", false, "write the manual page (roff) to standard output")
	_ = fl.MarkHidden("man")
	addWriteFlags(fl, &c.write)
	addReadCacheFlags(fl, &c.rcache)
	addPosixFlags(fl, c)
	addServiceFlags(fl, &c.svc)
	fl.StringArrayP("options", "o", nil, "mount `OPTIONS`, comma separated (see -o below)")
	return fl
}

// ignoredMountOptions are handled by mount(8) or systemd, not by b2fs.
var ignoredMountOptions = map[string]bool{
	"defaults": true, "auto": true, "noauto": true, "nofail": true, "_netdev": true,
	"user": true, "nouser": true, "users": true, "nodev": true, "dev": true,
	"nosuid": true, "suid": true, "exec": true, "noexec": true, "atime": true,
	"noatime": true, "relatime": true, "async": true,
}

// errVersion is returned by parseArgs for --version.
var errVersion = errors.New("version requested")

// parseArgs parses the command line; --help writes the usage to out.
func parseArgs(args []string, out io.Writer) (*config, error) {
	c := &config{uid: -1, gid: -1, umask: -1}
	fl := newFlagSet(c)
	fl.SetOutput(io.Discard)
	fl.Usage = func() {}
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			printUsage(out, fl)
			return nil, err
		}
		return nil, usageError{err.Error()}
	}
	if c.svc.version {
		return nil, errVersion
	}
	if man, _ := fl.GetBool("man"); man {
		if err := writeManPage(out, fl); err != nil {
			return nil, err
		}
		return nil, pflag.ErrHelp
	}
	opts, _ := fl.GetStringArray("options")
	for _, group := range opts {
		for _, o := range strings.Split(group, ",") {
			if err := c.applyOption(fl, strings.TrimSpace(o)); err != nil {
				return nil, err
			}
		}
	}
	pos := fl.Args()
	switch {
	case c.demo && len(pos) == 1:
		c.mountpoint = pos[0]
	case c.demo:
		return nil, usageError{"--demo takes exactly one argument, the mount point"}
	case len(pos) == 1:
		c.mountpoint = pos[0]
	case len(pos) == 2:
		c.source, c.mountpoint = pos[0], pos[1]
	default:
		return nil, usageError{"expected [BUCKET[/PREFIX]] MOUNTPOINT (see b2fs --help)"}
	}
	if c.mountpoint == "" {
		return nil, usageError{"empty mount point"}
	}
	switch c.logLevel {
	case "debug", "info", "warn", "error":
	default:
		return nil, usageError{fmt.Sprintf("--log-level: %q is not one of debug, info, warn, error", c.logLevel)}
	}
	if err := c.svc.check(); err != nil {
		return nil, err
	}
	if err := c.rcache.check(); err != nil {
		return nil, err
	}
	if err := c.write.check(); err != nil {
		return nil, err
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"dir-cache-ttl", c.dirTTL}, {"attr-cache-ttl", c.attrTTL}, {"negative-cache-ttl", c.negTTL}} {
		if d.v < 0 {
			return nil, usageError{fmt.Sprintf("--%s must not be negative", d.name)}
		}
	}
	if err := fs.CheckVersionsDir(c.versionsDir); err != nil {
		return nil, usageError{"--versions-dir: " + err.Error()}
	}
	if c.cacheEntries <= 0 {
		return nil, usageError{"--cache-max-entries must be positive"}
	}
	if c.maxFileInodes < 0 {
		return nil, usageError{"--max-file-inodes must not be negative"}
	}
	if c.listPrefetchPages < 0 || c.listPrefetchPages > 100 {
		return nil, usageError{"--list-prefetch-pages must be between 0 and 100"}
	}
	for _, s := range []struct{ name, v string }{{"read-ahead-max", c.readAheadMax}, {"read-ahead-window", c.readWindowMax}, {"read-chunk-size", c.readChunk}, {"kernel-read-ahead", c.kernelReadAhead}} {
		if n, err := parseSize(s.v); err != nil || n <= 0 {
			return nil, usageError{fmt.Sprintf("--%s: %q is not a size (e.g. 256MiB)", s.name, s.v)}
		}
	}
	if n, err := parseSize(c.memoryTarget); err != nil || n < 0 {
		return nil, usageError{fmt.Sprintf("--memory-target: %q is not a size (e.g. 128MiB)", c.memoryTarget)}
	}
	return c, nil
}

// applyOption applies one -o option.
func (c *config) applyOption(fl *pflag.FlagSet, o string) error {
	if o == "" {
		return nil
	}
	key, val, hasVal := strings.Cut(o, "=")
	octal := func() (uint32, error) {
		n, err := strconv.ParseUint(val, 8, 32)
		if err != nil || !hasVal || n > 0o7777 {
			return 0, usageError{fmt.Sprintf("-o %s: want an octal mode", key)}
		}
		return uint32(n), nil
	}
	var err error
	switch {
	case key == "ro" && !hasVal:
		c.readOnly = true
	case key == "rw" && !hasVal:
		c.readOnly = false
	case key == "allow_other" && !hasVal:
		c.allowOther = true
	case key == "default_permissions" && !hasVal:
		c.defaultPermissions = true
	case (key == "uid" || key == "gid" || key == "umask") && !hasVal:
		err = usageError{fmt.Sprintf("-o %s: needs a value", key)}
	case key == "dir_mode":
		c.dirMode, err = octal()
	case key == "file_mode":
		c.fileMode, err = octal()
	case ignoredMountOptions[key] || strings.HasPrefix(key, "x-") || key == "comment":
	default:
		f := fl.Lookup(key)
		if f == nil || key == "options" || key == "demo" {
			return usageError{fmt.Sprintf("unknown mount option %q (see b2fs --help)", key)}
		}
		if !hasVal && f.NoOptDefVal != "" {
			val = f.NoOptDefVal // e.g. write-back alone
		} else if !hasVal {
			if f.Value.Type() != "bool" {
				return usageError{fmt.Sprintf("mount option %q needs a value", key)}
			}
			val = "true"
		}
		if err := fl.Set(key, val); err != nil {
			return usageError{fmt.Sprintf("mount option %s: %v", key, err)}
		}
	}
	return err
}

// parseSize parses "256MiB", "1GiB", "512KiB", "8M", "1048576".
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suf string
		m   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1}} {
		if strings.HasSuffix(s, u.suf) {
			s, mult = strings.TrimSuffix(s, u.suf), u.m
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return n * mult, nil
}

// credentials are an application key.
type credentials struct{ keyID, key string }

// loadCredentials reads the key from the credentials file when one is given,
// else from the environment.
func loadCredentials(file string, getenv func(string) string) (credentials, error) {
	if file == "" {
		c := credentials{keyID: getenv("B2_APPLICATION_KEY_ID"), key: getenv("B2_APPLICATION_KEY")}
		if c.keyID == "" || c.key == "" {
			return c, errors.New("no credentials: set B2_APPLICATION_KEY_ID and B2_APPLICATION_KEY, or use --credentials-file")
		}
		return c, nil
	}
	st, err := os.Stat(file)
	if err != nil {
		return credentials{}, fmt.Errorf("credentials file: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return credentials{}, fmt.Errorf("credentials file %s is readable by group or others (mode %04o); run chmod 600 %s", file, st.Mode().Perm(), file)
	}
	f, err := os.Open(file)
	if err != nil {
		return credentials{}, fmt.Errorf("credentials file: %w", err)
	}
	defer f.Close()
	return parseCredentials(f, file)
}

// parseCredentials reads KEY=VALUE lines: key_id/key or
// B2_APPLICATION_KEY_ID/B2_APPLICATION_KEY, optionally prefixed with
// "export " and quoted; "#" starts a comment line. Error messages never
// contain values.
func parseCredentials(r io.Reader, name string) (credentials, error) {
	var c credentials
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		s = strings.TrimPrefix(s, "export ")
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			return c, fmt.Errorf("credentials file %s line %d: want KEY=VALUE", name, line)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		switch k {
		case "key_id", "B2_APPLICATION_KEY_ID":
			c.keyID = v
		case "key", "B2_APPLICATION_KEY":
			c.key = v
		default:
			return c, fmt.Errorf("credentials file %s line %d: unknown name %q (want key_id and key)", name, line, k)
		}
	}
	if err := sc.Err(); err != nil {
		return c, fmt.Errorf("credentials file %s: %w", name, err)
	}
	if c.keyID == "" || c.key == "" {
		return c, fmt.Errorf("credentials file %s: needs both key_id and key", name)
	}
	return c, nil
}

// checkMountpoint requires an existing, empty directory.
func checkMountpoint(dir string) error {
	st, err := os.Stat(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("mount point %s does not exist", dir)
		}
		return fmt.Errorf("mount point: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("mount point %s is not a directory", dir)
	}
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("mount point: %w", err)
	}
	defer f.Close()
	names, err := f.Readdirnames(1)
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("mount point: %w", err)
	}
	if len(names) > 0 {
		return fmt.Errorf("mount point %s is not empty", dir)
	}
	return nil
}
