// Package readahead serves reads of one file version with ranged
// downloads. A sequential reader gets a window that doubles from 1 MiB to
// 64 MiB, fetched as 8 MiB ranged downloads in parallel; a random reader
// fetches only the aligned range it asked for. Readahead memory is
// bounded per reader (the window, one chunk, and 8 MiB kept behind the
// reader for reads the kernel sends out of order) and overall (Budget).
// Segment buffers are recycled through a free list held by the Budget
// (idle buffers keep their budget share until evicted), so reads copy
// into the request buffer: a FUSE reply is written after Read returns,
// when a consumed segment's buffer may already serve another download.
//
// It knows nothing of B2 or the kernel: a Reader gets a FetchFunc.
package readahead
