package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestOldestPendingUploadAndStagingBytes: the oldest pending change's age
// runs from its OldestPending time, is 0 when nothing is pending, and the
// staging and read cache gauges report their bytes and bounds.
func TestOldestPendingUploadAndStagingBytes(t *testing.T) {
	var mu sync.Mutex
	now := time.Unix(1_000_000, 0)
	pending := []string{}
	var since time.Time // when the oldest of pending was changed
	m := New(Options{
		WriteBack: func() WriteBack {
			mu.Lock()
			defer mu.Unlock()
			return WriteBack{PendingFiles: len(pending), OldestPending: since}
		},
		StagingBytes:   func() (int64, int64) { return 12345, 1 << 30 },
		ReadCache:      func() (int64, int64, int64, int64) { return 300, 100, 4096, 8192 },
		ReadCacheOpens: func() int64 { return 7 },
		now:            func() time.Time { mu.Lock(); defer mu.Unlock(); return now },
	})
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	scrape := func() string {
		resp, err := srv.Client().Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	t0 := now
	for i, c := range []struct {
		d       time.Duration // the clock moves on
		pending []string
		since   time.Duration // the oldest change, after t0
		want    string
	}{
		{0, nil, 0, "b2fs_oldest_pending_upload_seconds 0\n"},
		{time.Minute, []string{"b/a"}, time.Minute, "b2fs_oldest_pending_upload_seconds 0\n"},
		{time.Minute, []string{"b/a", "b/b"}, time.Minute, "b2fs_oldest_pending_upload_seconds 60\n"},
		{time.Minute, []string{"b/b"}, 2 * time.Minute, "b2fs_oldest_pending_upload_seconds 60\n"},
		{time.Minute, nil, 2 * time.Minute, "b2fs_oldest_pending_upload_seconds 0\n"},
	} {
		mu.Lock()
		now = now.Add(c.d)
		pending, since = c.pending, t0.Add(c.since)
		mu.Unlock()
		if got := scrape(); !strings.Contains(got, c.want) {
			t.Errorf("step %d (pending %v): exposition lacks %q", i, c.pending, c.want)
		}
	}
	got := scrape()
	for _, want := range []string{"b2fs_staging_bytes 12345\n", "b2fs_staging_limit_bytes 1.073741824e+09\n",
		"b2fs_read_cache_hit_bytes_total 300\n", "b2fs_read_cache_miss_bytes_total 100\n", "b2fs_read_cache_bytes 4096\n", "b2fs_read_cache_limit_bytes 8192\n", "b2fs_read_cache_file_opens_total 7\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("exposition lacks %q", want)
		}
	}
}
