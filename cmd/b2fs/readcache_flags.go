package main

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/b2fs/b2fs/b2client"
	"github.com/b2fs/b2fs/fs/readcache"
	"github.com/spf13/pflag"
)

// readCacheConfig holds the read cache flags.
type readCacheConfig struct {
	size        string
	passthrough bool
}

func addReadCacheFlags(fl *pflag.FlagSet, c *readCacheConfig) {
	fl.StringVar(&c.size, "read-cache-size", "auto", "bound of the persistent read cache in --cache-dir (auto: 10GiB or half the disk's free space, whichever is less; 0: off)")
	fl.BoolVar(&c.passthrough, "passthrough", true, "let the kernel read files entirely in the read cache directly (FUSE passthrough: Linux 6.9+, needs CAP_SYS_ADMIN)")
}

// check validates the flags.
func (c *readCacheConfig) check() error {
	if c.size == "auto" {
		return nil
	}
	if _, err := parseSize(c.size); err != nil {
		return usageError{fmt.Sprintf("--read-cache-size: %q is not a size (e.g. 10GiB, 0 or auto)", c.size)}
	}
	return nil
}

// setupReadCache opens the read cache of the account in cacheDir; nil when
// it is off or cannot be used (logged: the mount works without it).
func setupReadCache(c *readCacheConfig, cacheDir string, acct b2client.Account, log *slog.Logger) *readcache.Cache {
	dir := filepath.Join(cacheDir, "readcache", accountDir(acct))
	size := readcache.DefaultSize(dir)
	if c.size != "auto" {
		size, _ = parseSize(c.size)
	}
	if size <= 0 {
		return nil
	}
	rc, err := readcache.Open(readcache.Options{Dir: dir, MaxSize: size, Logger: log.With("component", "readcache")})
	if err != nil {
		if errors.Is(err, readcache.ErrLocked) {
			log.Warn("read cache in use by another mount; running without it", "dir", dir)
		} else {
			log.Warn("read cache unavailable; running without it", "err", err)
		}
		return nil
	}
	used, _ := rc.Used()
	log.Info("read cache", "dir", dir, "max_bytes", size, "cached_bytes", used, "passthrough", c.passthrough)
	return rc
}
