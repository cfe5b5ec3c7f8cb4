package e2e

import (
	"testing"
)

// TestCostAppendWithoutDownload: appending to a file this mount wrote
// (git's logs, `>>`) takes the bytes already in B2 from the read cache,
// where the upload left them: no download. B2 then has the whole content.
func TestCostAppendWithoutDownload(t *testing.T) {
	w := newWriteEnv(t, "--metadata-delay", "0")
	sh(t, w.m.Dir, "printf 'line 1\\n' > log && printf 'line 2\\n' >> log")
	w.ts.ResetStats()
	sh(t, w.m.Dir, "printf 'line 3\\n' >> log")
	assertNoCalls(t, w.ts, "appending to a file this mount wrote", "b2_download_file_by_id", "b2_download_file_by_name")
	w.wantRemote(t, "log", []byte("line 1\nline 2\nline 3\n"))
}
