// Command b2emu runs the b2fs B2 Native API emulator as a standalone HTTP
// server, for rclone interop tests, benchmarks and demos.
//
//	b2emu --listen 127.0.0.1:8180 --key-id ID [--key SECRET] [--bucket NAME]... [--data DIR]
//	      [--latency 20ms] [--bandwidth 50MB] [--min-part-size 5MB]
//	      [--recommended-part-size 100MB] [--token-lifetime 24h] [--relaxed-names] [--sample]
//
// The key can come from the environment variable B2EMU_KEY instead of
// --key, so it need not appear in the process arguments.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/b2fs/b2fs/test/b2emu"
	"github.com/spf13/pflag"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// parseSize reads a byte count with an optional B, KB, MB, GB, TB (powers of
// 1000) or KiB, MiB, GiB, TiB (powers of 1024) suffix.
func parseSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{
		{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
		{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
		{"k", 1e3}, {"m", 1e6}, {"g", 1e9}, {"t", 1e12}, {"b", 1},
	} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 || f*float64(mult) > 1<<62 {
		return 0, fmt.Errorf("invalid size %q (want e.g. 5MB, 64KiB, 1000)", s)
	}
	return int64(f * float64(mult)), nil
}

type sizeFlag struct{ v *int64 }

func (f sizeFlag) String() string {
	if f.v == nil {
		return "0"
	}
	return strconv.FormatInt(*f.v, 10)
}
func (f sizeFlag) Set(s string) error {
	n, err := parseSize(s)
	if err != nil {
		return err
	}
	*f.v = n
	return nil
}
func (f sizeFlag) Type() string { return "size" }

func run(args []string, stdout, stderr io.Writer) int {
	fl := pflag.NewFlagSet("b2emu", pflag.ContinueOnError)
	fl.SetOutput(io.Discard)
	var (
		opts      b2emu.Options
		listen    = fl.String("listen", "127.0.0.1:8180", "address to listen on")
		key       = fl.String("key", "", "master application key (prefer the B2EMU_KEY environment variable)")
		buckets   = fl.StringArray("bucket", nil, "create this bucket (allPrivate) if missing; repeatable")
		sample    = fl.Bool("sample", false, "seed the sample bucket demo-bucket (or the first --bucket) with sample files")
		verbose   = fl.Bool("verbose", false, "log every request error to stderr")
		bandwidth int64
	)
	fl.StringVar(&opts.KeyID, "key-id", "", "master application key id (default: the account id)")
	fl.StringVar(&opts.AccountID, "account-id", "", "account id (default 0123456789ab)")
	fl.StringVar(&opts.DataDir, "data", "", "directory for persistent state (default: a temp dir removed at exit)")
	fl.DurationVar(&opts.Latency, "latency", 0, "latency added before every response")
	fl.Var(sizeFlag{&bandwidth}, "bandwidth", "per-request body bandwidth cap in bytes/s, e.g. 50MB (0 = none)")
	fl.Var(sizeFlag{&opts.AbsoluteMinimumPartSize}, "min-part-size", "absoluteMinimumPartSize (default 5MB)")
	fl.Var(sizeFlag{&opts.RecommendedPartSize}, "recommended-part-size", "recommendedPartSize (default 100MB)")
	fl.Var(sizeFlag{&opts.MaxFileSize}, "max-file-size", "maximum simple upload, part and copy size (default 5GB)")
	fl.DurationVar(&opts.TokenLifetime, "token-lifetime", 24*time.Hour, "account token lifetime")
	fl.DurationVar(&opts.ListingLag, "listing-lag", 0, "new versions appear in listings only after this delay")
	fl.BoolVar(&opts.RelaxedNames, "relaxed-names", false, "do not enforce the legacy file-name rules")
	fl.BoolVar(&opts.Partner, "partner", false, "enable the Partner API (b2_list_groups)")
	fl.BoolVar(&opts.AllowSinglePartLargeFile, "allow-single-part", false, "let b2_finish_large_file accept one part")
	man := fl.Bool("man", false, "write the manual page (roff) to standard output")
	_ = fl.MarkHidden("man")
	if err := fl.Parse(args); err != nil {
		fmt.Fprintf(stderr, "b2emu: %v (see --help)\n", err)
		if errors.Is(err, pflag.ErrHelp) {
			fl.SetOutput(stderr)
			fl.PrintDefaults()
			return 0
		}
		return 2
	}
	if *man {
		if err := writeManPage(stdout, fl); err != nil {
			fmt.Fprintf(stderr, "b2emu: %v\n", err)
			return 1
		}
		return 0
	}
	if fl.NArg() > 0 {
		fmt.Fprintf(stderr, "b2emu: unexpected argument %q\n", fl.Arg(0))
		return 2
	}
	opts.Bandwidth = bandwidth
	opts.Key = *key
	if opts.Key == "" {
		opts.Key = os.Getenv("B2EMU_KEY")
	}
	if opts.Key == "" {
		fmt.Fprintln(stderr, "b2emu: no key: set B2EMU_KEY (or --key)")
		return 2
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	opts.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	srv, err := b2emu.New(opts)
	if err != nil {
		fmt.Fprintf(stderr, "b2emu: %v\n", err)
		return 1
	}
	defer srv.Close()
	for _, b := range *buckets {
		if _, ok := srv.BucketID(b); ok {
			continue
		}
		if _, err := srv.CreateBucket(b, "allPrivate"); err != nil {
			fmt.Fprintf(stderr, "b2emu: bucket %q: %v\n", b, err)
			return 2
		}
	}
	if *sample {
		name := "demo-bucket"
		if len(*buckets) > 0 {
			name = (*buckets)[0]
		}
		if err := srv.SeedSample(name); err != nil {
			fmt.Fprintf(stderr, "b2emu: %v\n", err)
			return 1
		}
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(stderr, "b2emu: %v\n", err)
		return 1
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 30 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	fmt.Fprintf(stdout, "b2emu listening on http://%s\n", ln.Addr())
	if f, ok := stdout.(*os.File); ok {
		_ = f.Sync()
	}
	select {
	case <-ctx.Done():
	case err := <-errc:
		fmt.Fprintf(stderr, "b2emu: %v\n", err)
		return 1
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		_ = hs.Close()
	}
	if err := srv.Close(); err != nil {
		fmt.Fprintf(stderr, "b2emu: close: %v\n", err)
		return 1
	}
	return 0
}
