package metrics

import (
	"fmt"
	"io"
	"math"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/b2fs/b2fs/b2client"
)

func TestClass(t *testing.T) {
	for api, want := range map[string]string{
		"b2_upload_file": "A", "b2_upload_part": "A", "b2_get_upload_url": "A", "b2_hide_file": "A",
		"b2_download_file_by_id": "B", "b2_download_file_by_name": "B", "b2_get_file_info": "B",
		"b2_list_file_names": "C", "b2_authorize_account": "C", "b2_copy_file": "C", "b2_list_buckets": "C",
		"b2_list_groups": "other", "": "other",
	} {
		if got := Class(api); got != want {
			t.Errorf("Class(%q) = %q, want %q", api, got, want)
		}
	}
}

func TestObserveCostAndExposition(t *testing.T) {
	m := New(Options{
		WriteBack: func() WriteBack {
			return WriteBack{PendingFiles: 3, Uploading: 1, PendingBytes: 4096, UploadedBytes: 77, UploadsDone: 2, Conflicts: 1, Retries: 4, UploadErrors: 5}
		},
		Cache: func() (int64, int64) { return 7, 2 },

		PendingMetadata: func() int { return 5 },
	})
	for i := 0; i < 10_000; i++ {
		m.Observe(b2client.RequestEvent{API: "b2_download_file_by_id", Status: 206, BytesReceived: 10, Duration: time.Millisecond})
	}
	for i := 0; i < 1000; i++ {
		m.Observe(b2client.RequestEvent{API: "b2_list_file_names", Status: 200})
	}
	m.Observe(b2client.RequestEvent{API: "b2_upload_file", Status: 200, BytesSent: 123})
	m.Observe(b2client.RequestEvent{API: "b2_upload_file", Status: 503, BytesSent: 99,
		Err: &b2client.Error{Status: 503, Code: "service_unavailable", API: "b2_upload_file"}})
	if c := m.Cost(); math.Abs(c-0.008) > 1e-12 {
		t.Errorf("Cost() = %v, want 0.008 (10,000 B + 1,000 C)", c)
	}
	if got := m.CallsByClass(); got["A"] != 2 || got["B"] != 10_000 || got["C"] != 1000 {
		t.Errorf("CallsByClass() = %v", got)
	}
	if got := m.Calls(); got["b2_upload_file"] != 2 || got["b2_download_file_by_id"] != 10_000 {
		t.Errorf("Calls() = %v", got)
	}
	s := m.Summary()
	if !strings.Contains(s, "class A 2, class B 10000, class C 1000") || !strings.Contains(s, "$0.008000") || strings.Contains(s, "\n") {
		t.Errorf("Summary() = %q", s)
	}
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`b2fs_b2_calls_total{api="b2_download_file_by_id",class="B"} 10000`,
		`b2fs_b2_calls_total{api="b2_upload_file",class="A"} 2`,
		`b2fs_b2_errors_total{api="b2_upload_file",code="service_unavailable"} 1`,
		`b2fs_b2_bytes_total{direction="download"} 100000`,
		`b2fs_b2_bytes_total{direction="upload"} 123`,
		`b2fs_b2_estimated_cost_dollars 0.008`,
		`b2fs_pending_uploads 3`, `b2fs_uploads_in_progress 1`, `b2fs_pending_upload_bytes 4096`,
		`b2fs_uploaded_bytes_total 77`, `b2fs_uploads_total 2`, `b2fs_upload_conflicts_total 1`,
		`b2fs_upload_retries_total 4`, `b2fs_upload_errors_total 5`, `b2fs_oldest_pending_upload_seconds 0`,
		`b2fs_cache_hits_total 7`, `b2fs_cache_misses_total 2`, `b2fs_pending_metadata_changes 5`,
		`go_goroutines`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("exposition lacks %q", want)
		}
	}
	if t.Failed() {
		fmt.Println(string(body))
	}
}

func TestErrorCode(t *testing.T) {
	if got := ErrorCode(fmt.Errorf("wrapped: %w", &b2client.Error{Code: "not_found"})); got != "not_found" {
		t.Errorf("got %q", got)
	}
	if got := ErrorCode(io.ErrUnexpectedEOF); got != "network" {
		t.Errorf("got %q", got)
	}
	if got := ErrorCode(nil); got != "" {
		t.Errorf("got %q", got)
	}
}
