package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestOldestPendingUploadAndStagingBytes: the oldest pending file's age runs
// from the first scrape that saw it, drops when it is uploaded, and the
// staging and read cache gauges report their bytes and bounds.
func TestOldestPendingUploadAndStagingBytes(t *testing.T) {
	var mu sync.Mutex
	now := time.Unix(1_000_000, 0)
	pending := []string{}
	m := New(Options{
		PendingNames:   func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), pending...) },
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
	step := func(d time.Duration, names ...string) {
		mu.Lock()
		now = now.Add(d)
		pending = names
		mu.Unlock()
	}
	for i, c := range []struct {
		d     time.Duration
		names []string
		want  string
	}{
		{0, nil, "b2fs_oldest_pending_upload_seconds 0\n"},
		{time.Minute, []string{"b/a"}, "b2fs_oldest_pending_upload_seconds 0\n"},
		{time.Minute, []string{"b/a", "b/b"}, "b2fs_oldest_pending_upload_seconds 60\n"},
		{time.Minute, []string{"b/a", "b/b"}, "b2fs_oldest_pending_upload_seconds 120\n"},
		{time.Minute, []string{"b/b"}, "b2fs_oldest_pending_upload_seconds 120\n"},
		{time.Minute, nil, "b2fs_oldest_pending_upload_seconds 0\n"},
		{time.Minute, []string{"b/a"}, "b2fs_oldest_pending_upload_seconds 0\n"},
	} {
		step(c.d, c.names...)
		if got := scrape(); !strings.Contains(got, c.want) {
			t.Errorf("step %d (pending %v): exposition lacks %q", i, c.names, c.want)
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
