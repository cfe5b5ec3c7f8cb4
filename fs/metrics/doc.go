// Package metrics collects what a running b2fs mount does and what it costs:
// B2 calls by API name and transaction class with an estimated price, bytes
// transferred, metadata cache hits and misses, uploads pending in the
// staging directory, and FUSE operations with their latency. It serves them
// in the Prometheus text format and summarises the B2 calls in one log line.
//
// B2 calls are counted from the b2client Observer hook (one event per HTTP
// request, retries included, exactly what B2 bills); FUSE operations by
// wrapping the go-fuse RawFileSystem (WrapFUSE), so the filesystem code
// needs no timing of its own. Every metric lives in a Registry owned by one
// Metrics value: there is no package-level state.
//
// Cost estimate. Class A calls are free; Class B calls cost $0.004 per
// 10,000 and Class C calls $0.004 per 1,000 (Backblaze's published prices
// at the time of writing; see Prices to change them). B2 waives the first
// 2,500 Class B and 2,500 Class C calls of each day per account; the
// estimate ignores that allowance (it cannot know the account's other
// usage), so it is an upper bound for the calls of this mount. Download
// bandwidth charges are not included.
package metrics
