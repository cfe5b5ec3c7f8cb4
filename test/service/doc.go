// Package service tests b2fs as a long-running service: systemd readiness
// (sd_notify), clean shutdown with uploads in flight, restart after a
// crash, the metrics endpoint against b2emu's own counters, the mount(8)
// helper and fstab path, the installed systemd unit, logs that never show
// the key, and the command line's --version, --help and errors. Every test
// runs the real b2fs binary against b2emu on 127.0.0.1 and real FUSE mounts.
package service
