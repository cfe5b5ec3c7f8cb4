package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/spf13/pflag"

	"github.com/b2fs/b2fs/b2client"
	"github.com/b2fs/b2fs/fs"
	"github.com/b2fs/b2fs/fs/staging"
)

// writeConfig holds the write-path flags.
type writeConfig struct {
	cacheDir          string
	cacheMaxSize      string
	cacheKeepSize     string
	uploadCutoff      string
	partSize          string
	uploadConcurrency int
	hardDelete        bool
	maxRenameFiles    int
	streamedSHA1      bool
	metadataDelay     time.Duration
	dirMarkers        string
	writeBack         time.Duration
	transfers         int
}

func addWriteFlags(fl *pflag.FlagSet, c *writeConfig) {
	fl.StringVar(&c.cacheDir, "cache-dir", staging.DefaultCacheDir(), "`DIR` for files being written and the read cache (created 0700)")
	fl.StringVar(&c.cacheMaxSize, "cache-max-size", "0", "bound of staged data in --cache-dir; writes beyond it fail with ENOSPC, or with --write-back wait for uploads (0: the disk's free space)")
	fl.StringVar(&c.cacheKeepSize, "cache-keep-size", "", "replaced by --read-cache-size")
	_ = fl.MarkDeprecated("cache-keep-size", "files uploaded from this mount go to the read cache; use --read-cache-size")
	fl.StringVar(&c.partSize, "part-size", "0", "part size of large-file uploads (0: the account's recommended size)")
	fl.StringVar(&c.uploadCutoff, "upload-cutoff", "0", "files of at least this size go up as large files, streaming while written (0: twice the part size)")
	fl.IntVar(&c.uploadConcurrency, "upload-concurrency", 4, "parts of one file uploaded at once")
	fl.BoolVar(&c.hardDelete, "hard-delete", false, "rm deletes every version of a file instead of hiding it")
	fl.BoolVar(&c.streamedSHA1, "streamed-sha1", true, "give large files streamed while written their large_file_sha1 and exact mtime (one deferred copy, see --metadata-delay; close does not wait)")
	fl.DurationVar(&c.metadataDelay, "metadata-delay", time.Second, "metadata changes of closed files reach B2 this long after the change, or at fsync/rename/unmount (0: at once)")
	fl.StringVar(&c.dirMarkers, "dir-markers", "needed", "`MODE` for .bzEmpty markers: needed (empty directories, or non-default mode, owner or xattrs) or all (every directory; times survive remounts)")
	fl.IntVar(&c.maxRenameFiles, "max-rename-files", 10000, "largest directory (in files) mv renames on the server; larger ones fail with EXDEV")
	fl.DurationVar(&c.writeBack, "write-back", 0, "experimental: close returns once the file is fsynced in --cache-dir; uploads follow this `DELAY` after the last change (bare flag: 2s; 0: close waits for B2)")
	fl.Lookup("write-back").NoOptDefVal = staging.DefaultWriteBackDelay.String()
	fl.IntVar(&c.transfers, "transfers", staging.DefaultTransfers, "files uploaded at once in the background (--write-back)")
}

// check validates the write flags that need no B2 account.
func (c *writeConfig) check() error {
	if c.dirMarkers != "needed" && c.dirMarkers != "all" {
		return usageError{"--dir-markers must be needed or all"}
	}
	if c.writeBack < 0 || c.writeBack > 24*time.Hour {
		return usageError{"--write-back must be between 0 and 24h"}
	}
	if c.transfers < 1 || c.transfers > 256 {
		return usageError{"--transfers must be between 1 and 256"}
	}
	return nil
}

// writeSetup is the write path decided by the flags (see package wire).
type writeSetup struct {
	write       fs.WriteOptions
	staging     *staging.Options // nil: read-only
	partSize    int64
	concurrency int
}

// setupWrite decides the write path. A read-only mount gets none (EROFS).
func setupWrite(c *writeConfig, client *b2client.Client, readOnly bool, keep staging.Keeper, log *slog.Logger) (writeSetup, error) {
	if readOnly {
		return writeSetup{}, nil
	}
	sizes := map[string]*int64{}
	var part, cutoff, maxSize int64
	sizes["--part-size"], sizes["--upload-cutoff"], sizes["--cache-max-size"] = &part, &cutoff, &maxSize
	for name, v := range map[string]string{"--part-size": c.partSize, "--upload-cutoff": c.uploadCutoff, "--cache-max-size": c.cacheMaxSize} {
		n, err := parseSize(v)
		if err != nil {
			return writeSetup{}, usageError{fmt.Sprintf("%s: %v", name, err)}
		}
		*sizes[name] = n
	}
	if c.metadataDelay < 0 || c.metadataDelay > time.Hour {
		return writeSetup{}, usageError{"--metadata-delay must be between 0 and 1h"}
	}
	if c.uploadConcurrency < 1 || c.uploadConcurrency > 64 {
		return writeSetup{}, usageError{"--upload-concurrency must be between 1 and 64"}
	}
	acct := client.Account()
	part, cutoff, err := staging.ChooseSizes(part, cutoff, acct.AbsoluteMinimumPartSize, acct.RecommendedPartSize)
	if err != nil {
		return writeSetup{}, usageError{err.Error()}
	}
	so := &staging.Options{
		Dir:               filepath.Join(c.cacheDir, "staging", accountDir(acct)),
		PartSize:          part,
		UploadCutoff:      cutoff,
		Concurrency:       c.uploadConcurrency,
		MaxSize:           maxSize,
		Keep:              keep,
		FastStreamedClose: !c.streamedSHA1,
		WriteBack:         c.writeBack > 0,
		WriteBackDelay:    c.writeBack,
		Transfers:         c.transfers,
		Logger:            log.With("component", "staging"),
	}
	log.Info("write path", "cache_dir", c.cacheDir, "part_size", part, "upload_cutoff", cutoff, "upload_concurrency", c.uploadConcurrency, "hard_delete", c.hardDelete,
		"write_back", c.writeBack, "transfers", c.transfers)
	return writeSetup{
		write: fs.WriteOptions{
			HardDelete:     c.hardDelete,
			MaxRenameFiles: c.maxRenameFiles,
			MetadataDelay:  c.metadataDelay,
			KeepDirMarkers: c.dirMarkers == "all",
			Capabilities:   acct.Capabilities,
		},
		staging:     so,
		partSize:    part,
		concurrency: c.uploadConcurrency,
	}, nil
}

// accountDir names the staging directory of one B2 account at one API
// endpoint. Mounts of different accounts (or of the --demo emulator) may
// share a cache directory; crash recovery only ever looks at the staged
// files of its own account, so it never uploads them elsewhere.
func accountDir(acct b2client.Account) string {
	sum := sha256.Sum256([]byte(acct.APIURL + "\x00" + acct.AccountID))
	return hex.EncodeToString(sum[:8])
}
