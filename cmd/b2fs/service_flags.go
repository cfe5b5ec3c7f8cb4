package main

import (
	"fmt"
	"time"

	"github.com/spf13/pflag"
)

// serviceConfig holds the flags of running b2fs as a service.
type serviceConfig struct {
	shutdownTimeout time.Duration
	startupTimeout  time.Duration
	metricsAddr     string
	logFormat       string
	logFile         string
	daemon          bool
	version         bool
}

func addServiceFlags(fl *pflag.FlagSet, c *serviceConfig) {
	fl.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 5*time.Minute, "how long stopping waits for open files and uploads; what is left stays staged for the next start")
	fl.DurationVar(&c.startupTimeout, "startup-timeout", 30*time.Second, "how long starting waits for B2 to answer (network down, B2 unavailable) before exiting with status 1; 0 waits forever")
	fl.StringVar(&c.metricsAddr, "metrics-addr", "", "serve Prometheus metrics on `ADDR` (e.g. 127.0.0.1:9464) at /metrics")
	fl.StringVar(&c.logFormat, "log-format", "auto", "text, json, or auto (text; without timestamps under systemd's journal)")
	fl.StringVar(&c.logFile, "log-file", "", "append logs to `FILE` (created 0600) instead of stderr; with --daemon the default is syslog")
	fl.BoolVar(&c.daemon, "daemon", false, "run in the background and exit once the mount is ready (what the mount helper does)")
	fl.BoolVar(&c.version, "version", false, "print the version and exit")
}

// check validates the service flags.
func (c *serviceConfig) check() error {
	switch c.logFormat {
	case "auto", "text", "json":
	default:
		return usageError{fmt.Sprintf("--log-format: %q is not one of text, json, auto", c.logFormat)}
	}
	if c.startupTimeout < 0 {
		return usageError{"--startup-timeout must not be negative (0 waits forever)"}
	}
	if c.shutdownTimeout <= 0 {
		return usageError{"--shutdown-timeout must be positive"}
	}
	return nil
}
