// Command b2fs mounts a Backblaze B2 bucket, a prefix inside one, or a whole
// account with FUSE. See b2fs --help and the README's "Mounting" section.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/b2fs/b2fs/b2client"
	"github.com/b2fs/b2fs/cache"
	"github.com/b2fs/b2fs/fs"
	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/spf13/pflag"
)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stderr))
}

// startupTimeout bounds authorization and the first listing.
const startupTimeout = 30 * time.Second

// run is the whole command; it returns the exit status.
func run(args []string, getenv func(string) string, stderr io.Writer) int {
	cfg, err := parseArgs(args, stderr)
	if err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "b2fs: %v\n", err)
		return 2
	}
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.logLevel))
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if err := mount(cfg, getenv, log); err != nil {
		fmt.Fprintf(stderr, "b2fs: %v\n", oneLine(err))
		return 1
	}
	return 0
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

func mount(cfg *config, getenv func(string) string, log *slog.Logger) error {
	if err := checkMountpoint(cfg.mountpoint); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if cfg.cpuProfile != "" {
		f, err := os.OpenFile(cfg.cpuProfile, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
		if err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}

	var creds credentials
	if cfg.demo {
		d, err := startDemo(log)
		if err != nil {
			return err
		}
		defer d.close()
		cfg.endpoint, creds, cfg.source = d.url, d.creds, d.bucket
	} else {
		var err error
		if creds, err = loadCredentials(cfg.credentialsFile, getenv); err != nil {
			return err
		}
	}

	sctx, cancel := context.WithTimeout(ctx, startupTimeout)
	defer cancel()
	client, err := b2client.New(sctx, b2client.Config{
		Endpoint: cfg.endpoint, KeyID: creds.keyID, Key: creds.key,
		Logger: log.With("component", "b2client"),
	})
	if err != nil {
		if errors.Is(err, b2client.ErrCredentialsRejected) {
			return fmt.Errorf("B2 rejected the application key (check B2_APPLICATION_KEY_ID and B2_APPLICATION_KEY)")
		}
		return fmt.Errorf("cannot authorize with %s: %w", cfg.endpoint, err)
	}
	bucket, prefix, err := resolveRoot(sctx, client, cfg.source)
	if err != nil {
		return err
	}

	mc, err := cache.New(cache.Options{
		MaxEntries: cfg.cacheEntries, DirTTL: cfg.dirTTL, AttrTTL: cfg.attrTTL, NegativeTTL: cfg.negTTL,
	})
	if err != nil {
		return err
	}
	defer mc.Close()
	budget, _ := parseSize(cfg.readAheadMax)
	window, _ := parseSize(cfg.readWindowMax)
	chunk, _ := parseSize(cfg.readChunk)
	opts := fs.Options{
		Backend: fs.NewB2Backend(client),
		Cache:   mc,
		Logger:  log,
		Bucket:  bucket,
		Prefix:  prefix,
		UID:     uint32(os.Getuid()),
		GID:     uint32(os.Getgid()),
		Read: fs.ReadOptions{
			MaxWindow: window, ChunkSize: chunk, Budget: fs.NewBudget(budget),
		},
	}
	if cfg.uid >= 0 {
		opts.UID = uint32(cfg.uid)
	}
	if cfg.gid >= 0 {
		opts.GID = uint32(cfg.gid)
	}
	opts.DirMode, opts.FileMode = 0o755, 0o644
	if cfg.umask >= 0 {
		opts.DirMode, opts.FileMode = 0o777&^uint32(cfg.umask), 0o666&^uint32(cfg.umask)
	}
	if cfg.dirMode != 0 {
		opts.DirMode = cfg.dirMode
	}
	if cfg.fileMode != 0 {
		opts.FileMode = cfg.fileMode
	}
	wo, closeWrite, err := setupWrite(&cfg.write, client, cfg.readOnly, log)
	if err != nil {
		return err
	}
	opts.Write = wo
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if err := closeWrite(cctx); err != nil {
			log.Error("uploads still pending at exit; staged data kept", "err", err)
		}
	}()
	fsys, err := fs.New(opts)
	if err != nil {
		return err
	}
	if err := fsys.Check(sctx); err != nil {
		return fmt.Errorf("cannot list %s: %w", describe(bucket, prefix), err)
	}
	fsName := "b2fs:" + bucket.Name
	if bucket.Name == "" {
		fsName = "b2fs"
	}
	fo := fsys.FuseOptions(fs.MountConfig{FsName: fsName, AllowOther: cfg.allowOther, ReadOnly: cfg.readOnly, Debug: cfg.debugFuse})
	srv, err := fusefs.Mount(cfg.mountpoint, fsys.Root(), fo)
	if err != nil {
		return fmt.Errorf("mount %s: %w", cfg.mountpoint, err)
	}
	if err := fs.SetKernelReadAhead(cfg.mountpoint, fs.MaxRequest); err != nil {
		log.Debug("kernel readahead left at its default", "err", err)
	}
	log.Info("mounted", "source", describe(bucket, prefix), "mountpoint", cfg.mountpoint, "endpoint", cfg.endpoint)

	done := make(chan struct{})
	go func() { srv.Wait(); close(done) }()
	select {
	case <-done:
		log.Info("unmounted externally")
		return nil
	case <-ctx.Done():
	}
	log.Info("signal received, unmounting", "mountpoint", cfg.mountpoint)
	if err := srv.Unmount(); err != nil {
		log.Warn("unmount failed, detaching lazily", "err", err)
		if out, err := exec.Command("fusermount3", "-u", "-z", cfg.mountpoint).CombinedOutput(); err != nil {
			return fmt.Errorf("unmount %s: %v: %s", cfg.mountpoint, err, out)
		}
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		return fmt.Errorf("unmount %s: server did not stop", cfg.mountpoint)
	}
	log.Info("unmounted", "mountpoint", cfg.mountpoint)
	return nil
}

func describe(b fs.Bucket, prefix string) string {
	if b.Name == "" {
		return "the account"
	}
	if prefix == "" {
		return "bucket " + b.Name
	}
	return b.Name + "/" + prefix
}

// resolveRoot decides what the root of the mount is from the BUCKET[/PREFIX]
// argument and the key's restrictions.
func resolveRoot(ctx context.Context, c *b2client.Client, source string) (fs.Bucket, string, error) {
	acct := c.Account()
	name, prefix, _ := strings.Cut(strings.TrimPrefix(source, "/"), "/")
	prefix = strings.Trim(prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	if name == "" {
		if acct.NamePrefix == "" || acct.BucketName == "" {
			return fs.Bucket{}, "", nil // the account (or the key's one bucket)
		}
		name, prefix = acct.BucketName, acct.NamePrefix
	}
	if acct.BucketName != "" && name != acct.BucketName {
		return fs.Bucket{}, "", fmt.Errorf("the application key only allows bucket %q, not %q", acct.BucketName, name)
	}
	if acct.NamePrefix != "" {
		switch {
		case prefix == "":
			prefix = acct.NamePrefix
		case !strings.HasPrefix(prefix, acct.NamePrefix):
			return fs.Bucket{}, "", fmt.Errorf("the application key only allows names starting with %q", acct.NamePrefix)
		}
	}
	b, err := c.BucketByName(ctx, name)
	if err != nil {
		if b2client.IsNotFound(err) {
			return fs.Bucket{}, "", fmt.Errorf("bucket %q not found", name)
		}
		if b2client.IsUnauthorized(err) {
			return fs.Bucket{}, "", fmt.Errorf("the application key may not access bucket %q", name)
		}
		return fs.Bucket{}, "", fmt.Errorf("look up bucket %q: %w", name, err)
	}
	if b == nil {
		return fs.Bucket{}, "", fmt.Errorf("bucket %q not found", name)
	}
	return fs.Bucket{ID: b.ID, Name: b.Name}, prefix, nil
}
