// Package b2emu is a local emulator of the Backblaze B2 Native API.
//
// A Server is an http.Handler over an in-memory metadata store whose file
// bodies always live on disk, so multi-GiB files never sit in memory. It
// serves every Native API call under /b2api/{v1,v2,v3,v4}/, downloads under
// /file/<bucket>/<name>, opaque upload URLs, and unauthenticated admin
// endpoints under /b2emu/ (statistics, fault injection, token expiry, clock).
//
// The behaviour follows the project's B2 API reference: listings sorted by
// raw UTF-8 bytes with folder roll-up, hide markers and versions, single-flight
// upload URLs, the exact Range rules of B2 downloads, restricted application
// keys, large files, server-side copies and JSON errors whose status always
// equals the HTTP status. Where the real service's behaviour is unconfirmed
// the emulator picks the strict choice and, where useful, makes it an Option.
//
// Tests start a server with NewTestServer; cmd/b2emu runs one standalone.
// With Options.DataDir the metadata is journaled (JSON lines) next to the
// blobs and survives a restart.
//
// Locking: Server.mu guards the whole metadata store (buckets, files, keys,
// tokens, clock). It is never held while a body is streamed, while sleeping
// for latency, bandwidth or stall faults, or across any network I/O. The
// fault list and the statistics have their own small locks, never taken
// while holding mu and never held while taking mu (LOCK ORDER: mu, then
// faultsMu or statsMu, each held only for a few map operations).
package b2emu
