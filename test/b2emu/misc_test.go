package b2emu

import (
	"bytes"
	"net/http"
	"testing"
	"time"
)

func TestTestModeExpireTokens(t *testing.T) {
	ts := newServer(t, Options{TestModeFailEvery: 2})
	c := login(t, ts)
	call := func() (int, string) {
		req, _ := http.NewRequest("GET", ts.URL+"/b2api/v3/b2_list_buckets?accountId="+c.accountID, nil)
		req.Header.Set("Authorization", c.token)
		req.Header.Set("X-Bz-Test-Mode", "expire_some_account_authorization_tokens")
		st, m := c.do(req)
		code, _ := m["code"].(string)
		return st, code
	}
	if st, _ := call(); st != 200 {
		t.Fatalf("first call %d", st)
	}
	if st, code := call(); st != 401 || code != "expired_auth_token" {
		t.Fatalf("second call %d %s", st, code)
	}
	// the token really is expired now, even without the header
	c.wantErr("b2_list_buckets", map[string]any{"accountId": c.accountID}, 401, "expired_auth_token")
}

func TestUploadTokenExpiry(t *testing.T) {
	ts := newServer(t, Options{TokenLifetime: time.Hour})
	c := login(t, ts)
	bid := c.createBucket("upload-expiry", "allPrivate")
	u := c.uploadURL(bid)
	ts.AdvanceClock(2 * time.Hour)
	if st, m := c.uploadRaw(u, "a", []byte("a"), nil); st != 401 || m["code"] != "expired_auth_token" {
		t.Errorf("expired upload token: %d %v", st, m)
	}
	// a 401 fault on an upload expires that upload token
	c = login(t, ts)
	u = c.uploadURL(bid)
	ts.AddFault(FaultRule{API: "b2_upload_file", Status: 401})
	if st, m := c.uploadRaw(u, "a", []byte("a"), nil); st != 401 || m["code"] != "expired_auth_token" {
		t.Errorf("401 fault: %d %v", st, m)
	}
	if st, m := c.uploadRaw(u, "a", []byte("a"), nil); st != 401 {
		t.Errorf("upload token after 401 fault: %d %v", st, m)
	}
	if st, _ := c.uploadRaw(c.uploadURL(bid), "a", []byte("a"), nil); st != 200 {
		t.Errorf("fresh upload URL: %d", st)
	}
}

func TestLatencyAndBandwidth(t *testing.T) {
	ts := newServer(t, Options{Latency: 100 * time.Millisecond, Bandwidth: 200 << 10})
	c := login(t, ts)
	bid := c.createBucket("slow-bucket", "allPrivate")
	body := bytes.Repeat([]byte("s"), 100<<10)
	start := time.Now()
	c.must("b2_list_buckets", map[string]any{"accountId": c.accountID})
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("latency: call took %v", d)
	}
	start = time.Now()
	c.upload(bid, "slow.bin", body) // 100 KiB up at 200 KiB/s plus latency
	if d := time.Since(start); d < 500*time.Millisecond {
		t.Errorf("bandwidth: upload took %v", d)
	}
	start = time.Now()
	_, got := c.download("GET", "/file/slow-bucket/slow.bin", nil)
	if d := time.Since(start); d < 500*time.Millisecond || !bytes.Equal(got, body) {
		t.Errorf("bandwidth: download took %v (%d bytes)", d, len(got))
	}
}

func TestSeedSample(t *testing.T) {
	ts := newServer(t, Options{})
	if err := ts.SeedSample("demo-bucket"); err != nil {
		t.Fatal(err)
	}
	c := login(t, ts)
	bid, ok := ts.BucketID("demo-bucket")
	if !ok {
		t.Fatal("no demo-bucket")
	}
	m := c.must("b2_list_file_names", map[string]any{"bucketId": bid, "delimiter": "/"})
	got := listed(m)
	want := []string{"upload:README.txt", "folder:big/", "folder:docs/", "upload:empty.txt", "folder:folder/", "folder:music/", "folder:photos/"}
	if !eq(got, want) {
		t.Errorf("sample top level %v", got)
	}
	resp, body := c.download("HEAD", "/file/demo-bucket/big/random-6MiB.bin", nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Length") != "6291456" || len(body) != 0 {
		t.Errorf("big sample file: %d %v", resp.StatusCode, resp.Header)
	}
	if resp, _ := c.download("GET", "/file/demo-bucket/"+percentEncode("photos/été/café ☕.txt"), nil); resp.StatusCode != 200 {
		t.Errorf("unicode sample: %d", resp.StatusCode)
	}
}

func TestListingLag(t *testing.T) {
	ts := newServer(t, Options{ListingLag: time.Minute})
	c := login(t, ts)
	bid := c.createBucket("lagging-bucket", "allPrivate")
	c.upload(bid, "old/a.txt", []byte("a"))
	ts.AdvanceClock(2 * time.Minute)
	c.upload(bid, "new/b.txt", []byte("b"))
	c.must("b2_hide_file", map[string]any{"bucketId": bid, "fileName": "old/a.txt"})
	// reads by name are immediate; listings lag
	if resp, _ := c.download("GET", "/file/lagging-bucket/new/b.txt", nil); resp.StatusCode != 200 {
		t.Errorf("download of a new file: %d", resp.StatusCode)
	}
	if got := listed(c.must("b2_list_file_names", map[string]any{"bucketId": bid, "delimiter": "/"})); !eq(got, []string{"folder:old/"}) {
		t.Errorf("lagging names: %v", got)
	}
	if got := listed(c.must("b2_list_file_versions", map[string]any{"bucketId": bid})); !eq(got, []string{"upload:old/a.txt"}) {
		t.Errorf("lagging versions: %v", got)
	}
	ts.AdvanceClock(2 * time.Minute)
	if got := listed(c.must("b2_list_file_names", map[string]any{"bucketId": bid, "delimiter": "/"})); !eq(got, []string{"folder:new/"}) {
		t.Errorf("names after the lag: %v", got)
	}
}
