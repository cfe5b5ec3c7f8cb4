package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// version is set at build time: go build -ldflags "-X main.version=v1.2.3".
var version = ""

// versionString is "b2fs VERSION (go1.x, go-fuse vX)".
func versionString() string {
	v := version
	fuse := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && v == "" && len(s.Value) >= 12 {
				v = "dev-" + s.Value[:12]
			}
		}
		for _, d := range bi.Deps {
			if d.Path == "github.com/hanwen/go-fuse/v2" {
				fuse = d.Version
			}
		}
	}
	if v == "" {
		v = "dev"
	}
	return fmt.Sprintf("b2fs %s (%s, go-fuse %s, %s/%s)", v, runtime.Version(), fuse, runtime.GOOS, runtime.GOARCH)
}

func printVersion(w io.Writer) { fmt.Fprintln(w, versionString()) }
