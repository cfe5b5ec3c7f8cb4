// Package e2e holds b2fs's end-to-end tests: each test starts b2emu over
// HTTP on 127.0.0.1, seeds it, runs the b2fs binary as a subprocess on a
// temporary mount point and drives the mount with ordinary Unix tools.
package e2e
