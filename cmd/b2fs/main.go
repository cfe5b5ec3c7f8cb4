// Command b2fs mounts a Backblaze B2 bucket, a prefix inside one, or a whole
// account with FUSE. It runs in the foreground, in the background (--daemon,
// or as the mount(8) helper mount.fuse.b2fs), or as a systemd Type=notify
// service. See b2fs --help, docs/configuration.md (generated from the
// flags: go generate ./cmd/b2fs) and the README.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/b2fs/b2fs/b2client"
	"github.com/b2fs/b2fs/cache"
	"github.com/b2fs/b2fs/fs"
	"github.com/b2fs/b2fs/fs/metrics"
	"github.com/b2fs/b2fs/fs/readcache"
	"github.com/b2fs/b2fs/fs/staging"
	"github.com/b2fs/b2fs/fs/wire"
)

func main() {
	args := os.Args[1:]
	if len(args) == 1 && args[0] == printReferenceArg {
		if err := printReference(os.Stdout); err != nil {
			fmt.Fprintf(os.Stderr, "b2fs: %v\n", err)
			os.Exit(1)
		}
		return
	}
	if isMountHelper(os.Args[0]) {
		hargs, fake, err := helperArgs(args)
		if err != nil {
			fmt.Fprintf(os.Stderr, "b2fs: %v\n", err)
			os.Exit(2)
		}
		if fake {
			os.Exit(0)
		}
		args = hargs
	}
	os.Exit(run(args, os.Getenv, os.Stdout, os.Stderr))
}

// startupTimeout bounds what follows authorization at start: the bucket
// lookup, the first listing and the recovery check of staged files.
// Waiting for B2 to answer at all is bounded by --startup-timeout.
const startupTimeout = 30 * time.Second

// run is the whole command; it returns the exit status.
func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) > 0 && isControlCommand(args[0]) {
		return runControl(args, stdout, stderr)
	}
	cfg, err := parseArgs(args, stdout)
	if err != nil {
		switch {
		case errors.Is(err, pflag.ErrHelp):
			return 0
		case errors.Is(err, errVersion):
			printVersion(stdout)
			return 0
		}
		fmt.Fprintf(stderr, "b2fs: %v\n", oneLine(err))
		return 2
	}
	child := getenv(readyFDEnv) != ""
	if cfg.svc.daemon && !child {
		return daemonize(args, cfg.svc.logFile, stderr, daemonWait(cfg.svc.startupTimeout))
	}
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.logLevel))
	log, red, closeLog, err := newLogger(logSetup{
		format: cfg.svc.logFormat, level: level, file: cfg.svc.logFile, syslog: child && cfg.svc.logFile == "", getenv: getenv,
	}, stderr)
	if err != nil && child {
		// No syslog: log next to the staged files instead.
		cfg.svc.logFile = filepath.Join(cfg.write.cacheDir, "b2fs.log")
		os.MkdirAll(cfg.write.cacheDir, 0o700)
		log, red, closeLog, err = newLogger(logSetup{format: cfg.svc.logFormat, level: level, file: cfg.svc.logFile, getenv: getenv}, stderr)
	}
	if err != nil {
		fmt.Fprintf(stderr, "b2fs: %v\n", oneLine(err))
		return 2
	}
	defer closeLog()
	n := newNotifier(getenv, log)
	if err := mount(cfg, getenv, log, red, n); err != nil {
		n.failed(err)
		if cfg.svc.logFile != "" || child {
			log.Error("b2fs stopped with an error", "err", oneLine(err))
		}
		fmt.Fprintf(stderr, "b2fs: %v\n", oneLine(err))
		return 1
	}
	return 0
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

func mount(cfg *config, getenv func(string) string, log *slog.Logger, red *redactor, n *notifier) error {
	sigs, stopSigs := stopSignals()
	defer stopSigs()
	if err := cleanStaleMount(cfg.mountpoint, log); err != nil {
		return err
	}
	if err := checkMountpoint(cfg.mountpoint); err != nil {
		return err
	}
	ctx := context.Background()
	mctx, stopTuning := context.WithCancel(ctx)
	defer stopTuning()
	target, _ := parseSize(cfg.memoryTarget)
	tuneMemory(mctx, uint64(target))
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
		if cfg.write.cacheDir == staging.DefaultCacheDir() {
			// The demo's files live and die with its emulator.
			tmp, err := os.MkdirTemp("", "b2fs-demo-cache-")
			if err != nil {
				return fmt.Errorf("demo: cache directory: %w", err)
			}
			defer os.RemoveAll(tmp)
			cfg.write.cacheDir = tmp
		}
	} else {
		var err error
		if creds, err = loadCredentials(cfg.credentialsFile, getenv); err != nil {
			return err
		}
	}
	red.add(creds.key)

	// The metrics read the cache and the staging manager, which exist only
	// later; the HTTP server starts once both are set.
	var mc *cache.Cache
	var stage *staging.Manager
	var fsys *fs.FS
	var rc *readcache.Cache
	// The uploads' figures: the staging manager's, once it exists.
	uploads := &stagedUploads{}
	var wb writeBack
	met := metrics.New(metrics.Options{
		WriteBack: func() metrics.WriteBack {
			if wb == nil {
				return metrics.WriteBack{}
			}
			return wb.Stats()
		},
		Cache: func() (int64, int64) { return mc.Stats() },
		PendingMetadata: func() int {
			if fsys == nil {
				return 0
			}
			return fsys.PendingMetadata()
		},
		ReadCache: func() (int64, int64, int64, int64) {
			st := rc.Stats() // nil-safe, like Used
			used, limit := rc.Used()
			return st.HitBytes.Load(), st.MissBytes.Load(), used, limit
		},
		ReadCacheOpens: func() int64 { return rc.Stats().WholeOpens.Load() },
		StagingBytes: func() (int64, int64) {
			if stage == nil {
				return 0, 0
			}
			limit, _ := parseSize(cfg.write.cacheMaxSize)
			return stage.Used(), limit
		},
	})

	startCtx, cancelStart := context.WithCancel(ctx)
	defer cancelStart()
	// A signal while starting cancels the start; once mounted it stops
	// the mount as usual.
	sigs = cancelOnSignal(sigs, cancelStart)
	client, err := connect(startCtx, b2client.Config{
		Endpoint: cfg.endpoint, KeyID: creds.keyID, Key: creds.key,
		Logger:   log.With("component", "b2client"),
		Observer: func(ev b2client.RequestEvent) { met.Observe(ev); uploads.observe(ev) },
		// Enough idle upload URLs for every upload that runs at once, so
		// that none is thrown away and fetched again.
		UploadURLPoolSize: max(5, cfg.write.transfers, cfg.write.uploadConcurrency),
	}, cfg.svc.startupTimeout, log, n)
	if err != nil {
		return err
	}
	// Once B2 answered, the rest of the start is bounded on its own.
	sctx, cancel := context.WithTimeout(startCtx, startupTimeout)
	defer cancel()
	bucket, prefix, err := resolveRoot(sctx, client, cfg.source)
	if err != nil {
		return err
	}

	mc, err = cache.New(cache.Options{
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
		Cache:             mc,
		ListPrefetchPages: cfg.listPrefetchPages,
		MaxFileInodes:     cfg.maxFileInodes,
		VersionsDir:       cfg.versionsDir,
		Logger:            log,
		Bucket:            bucket,
		Prefix:            prefix,
		UID:               uint32(os.Getuid()),
		GID:               uint32(os.Getgid()),
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
	rc = setupReadCache(&cfg.rcache, cfg.write.cacheDir, client.Account(), log)
	defer rc.Close()
	opts.ReadCache, opts.Passthrough = rc, cfg.rcache.passthrough
	var keep staging.Keeper
	if rc != nil {
		keep = rc
	}
	ws, err := setupWrite(&cfg.write, client, cfg.readOnly, keep, log)
	if err != nil {
		return err
	}
	opts.Write = ws.write
	// The one place the layers are put together (package wire).
	layers, err := wire.New(wire.Options{Client: client, FS: opts, Staging: ws.staging, PartSize: ws.partSize, Concurrency: ws.concurrency})
	if err != nil {
		return err
	}
	stage = layers.Staging
	closeWrite := layers.CloseWrite
	closed := false
	defer func() {
		if closed {
			return
		}
		// The start failed: do not hold up the exit with uploads; what is
		// staged stays for the next start.
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := closeWrite(cctx); err != nil {
			log.Error("uploads still pending at exit; staged data kept", "err", err)
		}
	}()
	toUpload := 0
	if stage != nil {
		toUpload = recoverStaged(sctx, stage, layers.Backend.Current, log)
		uploads.stage = stage
		wb = uploads
	}
	fsys = layers.FS
	if err := fsys.Check(sctx); err != nil {
		return fmt.Errorf("cannot list %s: %w", describe(bucket, prefix), err)
	}
	fsName := "b2fs:" + bucket.Name
	if bucket.Name == "" {
		fsName = "b2fs"
	}
	if cfg.svc.metricsAddr != "" {
		mctx, stopMetrics := context.WithCancel(ctx)
		defer stopMetrics()
		if err := serveMetrics(mctx, cfg.svc.metricsAddr, met, log); err != nil {
			return err
		}
	}
	fo := fsys.FuseOptions(fs.MountConfig{FsName: fsName, AllowOther: cfg.allowOther, ReadOnly: cfg.readOnly, Debug: cfg.debugFuse, NoDefaultPermissions: !cfg.defaultPermissions, NoXattrs: !cfg.xattrs})
	srv, err := startServer(cfg.mountpoint, fsys, fo, met)
	if err != nil {
		return fmt.Errorf("mount %s: %w", cfg.mountpoint, err)
	}
	if sctx.Err() != nil {
		lazyUnmount(cfg.mountpoint)
		return fmt.Errorf("interrupted while starting: %w", sctx.Err())
	}
	if err := waitServing(cfg.mountpoint, startupTimeout); err != nil {
		lazyUnmount(cfg.mountpoint)
		return err
	}
	kra, _ := parseSize(cfg.kernelReadAhead)
	if err := fs.SetKernelReadAhead(cfg.mountpoint, int(kra)); err != nil {
		log.Debug("kernel readahead left at its default", "err", err)
	}
	log.Info("mounted", "source", describe(bucket, prefix), "mountpoint", cfg.mountpoint, "endpoint", cfg.endpoint)
	ctl := &mountControl{mountpoint: cfg.mountpoint, source: describe(bucket, prefix), wb: wb, fsys: fsys, met: met}
	ctlSrv := startControl(cfg.mountpoint, ctl, log)
	serving := "serving " + describe(bucket, prefix)
	n.ready(ctl.statusLine(serving))

	dctx, stopDrain := context.WithCancel(ctx)
	defer stopDrain()
	wctx, stopWatchdog := context.WithCancel(ctx)
	defer stopWatchdog()
	go n.watchdog(wctx, cfg.mountpoint)
	go ctl.monitor(wctx, n, serving)
	if toUpload > 0 {
		go func() {
			if err := stage.Drain(dctx); err != nil && dctx.Err() == nil {
				log.Error("uploading staged files of an earlier run", "err", err)
			} else if err == nil {
				log.Info("uploaded the staged files of an earlier run", "files", toUpload)
			}
		}()
	}
	closed = true
	s := &session{cfg: cfg, log: log, fsys: fsys, srv: srv, stage: stage, closeWr: closeWrite, met: met, notify: n, stopWatchdog: stopWatchdog,
		ctl: ctl, ctlSrv: ctlSrv}
	err = s.run(sigs)
	stopDrain()
	if cfg.memProfile != "" {
		writeHeapProfile(cfg.memProfile, log)
	}
	return err
}

// writeHeapProfile writes the live heap (after a collection) to path.
func writeHeapProfile(path string, log *slog.Logger) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		log.Error("heap profile", "err", err)
		return
	}
	defer f.Close()
	runtime.GC()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		log.Error("heap profile", "err", err)
	}
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
