package b2emu

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestDownloadRanges(t *testing.T) {
	ts := newServer(t, Options{})
	c := login(t, ts)
	bid := c.createBucket("range-bucket", "allPrivate")
	body := []byte("0123456789")
	f := c.upload(bid, "ten.txt", body)
	c.upload(bid, "empty.txt", nil)
	for _, tc := range []struct {
		rng    string
		status int
		want   string
		cr     string
	}{
		{"", 200, "0123456789", ""},
		{"bytes=5-8", 206, "5678", "bytes 5-8/10"},
		{"bytes=0-0", 206, "0", "bytes 0-0/10"},
		{"bytes=9-9", 206, "9", "bytes 9-9/10"},
		{"bytes=5-", 206, "56789", "bytes 5-9/10"},
		{"bytes=5-100", 206, "56789", "bytes 5-9/10"},
		{"bytes=0-", 200, "0123456789", ""},
		{"bytes=0-9", 200, "0123456789", ""},
		{"bytes=0-1000", 200, "0123456789", ""},
		{"bytes=-3", 206, "789", "bytes 7-9/10"},
		{"bytes=-10", 200, "0123456789", ""},
		{"bytes=-50", 200, "0123456789", ""},
		{"bytes=10-", 416, "", ""},
		{"bytes=10-20", 416, "", ""},
		{"bytes=5-2", 200, "0123456789", ""},
		{"bytes=abc", 200, "0123456789", ""},
		{"bytes=1-2,4-5", 200, "0123456789", ""},
		{"items=1-2", 200, "0123456789", ""},
		{"bytes=-0", 416, "", ""},
	} {
		hdr := map[string]string{}
		if tc.rng != "" {
			hdr["Range"] = tc.rng
		}
		for _, path := range []string{"/file/range-bucket/ten.txt", "/b2api/v3/b2_download_file_by_id?fileId=" + f["fileId"].(string)} {
			resp, got := c.download("GET", path, hdr)
			if resp.StatusCode != tc.status {
				t.Errorf("%s %q: status %d want %d", path, tc.rng, resp.StatusCode, tc.status)
				continue
			}
			if tc.status == 416 {
				var m map[string]any
				_ = json.Unmarshal(got, &m)
				if m["code"] != "range_not_satisfiable" {
					t.Errorf("%q: 416 body %s", tc.rng, got)
				}
				continue
			}
			if string(got) != tc.want || resp.Header.Get("Content-Range") != tc.cr {
				t.Errorf("%s %q: %q Content-Range %q, want %q %q", path, tc.rng, got, resp.Header.Get("Content-Range"), tc.want, tc.cr)
			}
			if resp.Header.Get("X-Bz-Content-Sha1") != sha1hex(body) || resp.Header.Get("Accept-Ranges") != "bytes" {
				t.Errorf("%q: headers %v", tc.rng, resp.Header)
			}
		}
	}
	for _, rng := range []string{"bytes=0-0", "bytes=0-", "bytes=-1", "bytes=5-10"} {
		resp, _ := c.download("GET", "/file/range-bucket/empty.txt", map[string]string{"Range": rng})
		if resp.StatusCode != 416 {
			t.Errorf("empty file %q: %d", rng, resp.StatusCode)
		}
	}
	resp, got := c.download("GET", "/file/range-bucket/empty.txt", nil)
	if resp.StatusCode != 200 || len(got) != 0 || resp.Header.Get("Content-Length") != "0" {
		t.Errorf("empty file: %d %q", resp.StatusCode, got)
	}
	// HEAD: same headers, no body
	resp, got = c.download("HEAD", "/file/range-bucket/ten.txt", map[string]string{"Range": "bytes=2-3"})
	if resp.StatusCode != 206 || len(got) != 0 || resp.Header.Get("Content-Length") != "2" {
		t.Errorf("HEAD: %d %q %v", resp.StatusCode, got, resp.Header)
	}
	resp, got = c.download("HEAD", "/file/range-bucket/nope.txt", nil)
	if resp.StatusCode != 404 || len(got) != 0 {
		t.Errorf("HEAD missing: %d %q", resp.StatusCode, got)
	}
	// POST JSON to download_file_by_id
	req, _ := http.NewRequest("POST", ts.URL+"/b2api/v3/b2_download_file_by_id", strings.NewReader(`{"fileId":"`+f["fileId"].(string)+`"}`))
	req.Header.Set("Authorization", c.token)
	r2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := io.ReadAll(r2.Body)
	r2.Body.Close()
	if r2.StatusCode != 200 || string(b2) != string(body) {
		t.Errorf("POST by id: %d %q", r2.StatusCode, b2)
	}
}

func TestDownloadHeadersAndAuth(t *testing.T) {
	ts := newServer(t, Options{})
	c := login(t, ts)
	bid := c.createBucket("private-dl", "allPrivate")
	pub := c.createBucket("public-dl", "allPublic")
	c.must("b2_update_bucket", map[string]any{"accountId": c.accountID, "bucketId": bid, "bucketInfo": map[string]string{"Cache-Control": "max-age=100"}})
	u := c.uploadURL(bid)
	st, f := c.uploadRaw(u, "dir/a%20file.txt", []byte("abc"), map[string]string{
		"X-Bz-Info-Src_last_modified_millis": "123",
		"X-Bz-Info-Note":                     "caf%C3%A9+au+lait",
		"X-Bz-Info-b2-content-disposition":   "attachment; filename=\"x.txt\"",
		"X-Bz-Info-b2-content-language":      "fr",
	})
	if st != 200 {
		t.Fatalf("upload %d %v", st, f)
	}
	resp, _ := c.download("GET", "/file/private-dl/dir/a%20file.txt", nil)
	h := resp.Header
	for k, v := range map[string]string{
		"X-Bz-File-Name": "dir/a%20file.txt", "X-Bz-File-Id": f["fileId"].(string),
		"X-Bz-Info-Src_last_modified_millis": "123", "X-Bz-Info-Note": "caf%C3%A9%20au%20lait",
		"Content-Disposition": `attachment; filename="x.txt"`, "Content-Language": "fr",
		"Cache-Control": "max-age=100", "Content-Type": "text/plain", "Content-Length": "3",
	} {
		if h.Get(k) != v {
			t.Errorf("header %s = %q want %q", k, h.Get(k), v)
		}
	}
	if h.Get("X-Bz-Upload-Timestamp") == "" || h.Get("X-Bz-Info-B2-Content-Language") != "" {
		t.Errorf("headers %v", h)
	}
	// query overrides
	resp, _ = c.download("GET", "/file/private-dl/dir/a%20file.txt?b2CacheControl=no-store&b2ContentDisposition=inline", nil)
	if resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Content-Disposition") != "inline" {
		t.Errorf("overrides %v", resp.Header)
	}
	// private bucket: token required; ?Authorization= works
	tok := c.token
	c.token = ""
	if resp, _ := c.download("GET", "/file/private-dl/dir/a%20file.txt", nil); resp.StatusCode != 401 {
		t.Errorf("no token: %d", resp.StatusCode)
	}
	if resp, b := c.download("GET", "/file/private-dl/dir/a%20file.txt?Authorization="+tok, nil); resp.StatusCode != 200 || string(b) != "abc" {
		t.Errorf("query token: %d", resp.StatusCode)
	}
	if resp, _ := c.download("GET", "/file/private-dl/dir/a%20file.txt?Authorization=bogus", nil); resp.StatusCode != 401 {
		t.Errorf("bogus token: %d", resp.StatusCode)
	}
	// public bucket: no token
	c.token = tok
	c.upload(pub, "p.txt", []byte("public"))
	c.token = ""
	if resp, b := c.download("GET", "/file/public-dl/p.txt", nil); resp.StatusCode != 200 || string(b) != "public" {
		t.Errorf("public: %d %q", resp.StatusCode, b)
	}
	c.token = tok
	// download authorization tokens
	c.wantErr("b2_get_download_authorization", map[string]any{"bucketId": bid, "fileNamePrefix": "dir/", "validDurationInSeconds": 0}, 400, "bad_request")
	c.wantErr("b2_get_download_authorization", map[string]any{"bucketId": bid, "fileNamePrefix": "dir/", "validDurationInSeconds": 604801}, 400, "bad_request")
	da := c.must("b2_get_download_authorization", map[string]any{"bucketId": bid, "fileNamePrefix": "dir/", "validDurationInSeconds": 60})
	if da["bucketId"] != bid || da["fileNamePrefix"] != "dir/" {
		t.Errorf("download authorization %v", da)
	}
	c.upload(bid, "other.txt", []byte("other"))
	c.token = da["authorizationToken"].(string)
	if resp, _ := c.download("GET", "/file/private-dl/dir/a%20file.txt", nil); resp.StatusCode != 200 {
		t.Errorf("download auth in prefix: %d", resp.StatusCode)
	}
	if resp, _ := c.download("GET", "/file/private-dl/other.txt", nil); resp.StatusCode != 401 {
		t.Errorf("download auth outside prefix: %d", resp.StatusCode)
	}
	if resp, _ := c.download("GET", "/b2api/v3/b2_download_file_by_id?fileId="+f["fileId"].(string), nil); resp.StatusCode != 401 {
		t.Errorf("download auth by id: %d", resp.StatusCode)
	}
	ts.AdvanceClock(61 * time.Second)
	if resp, _ := c.download("GET", "/file/private-dl/dir/a%20file.txt", nil); resp.StatusCode != 401 {
		t.Errorf("expired download auth: %d", resp.StatusCode)
	}
	c.token = tok
	_ = bytes.MinRead
	// by id of a hidden (old) version still works; by name of hidden is 404
	c.must("b2_hide_file", map[string]any{"bucketId": bid, "fileName": "other.txt"})
	if resp, _ := c.download("GET", "/file/private-dl/other.txt", nil); resp.StatusCode != 404 {
		t.Errorf("hidden by name: %d", resp.StatusCode)
	}
	if resp, _ := c.download("GET", "/file/private-dl/missing.txt", nil); resp.StatusCode != 404 {
		t.Errorf("missing by name: %d", resp.StatusCode)
	}
	if resp, _ := c.download("GET", "/file/no-such-bucket/x", nil); resp.StatusCode != 404 {
		t.Errorf("missing bucket: %d", resp.StatusCode)
	}
}

func TestStatsAndClasses(t *testing.T) {
	ts := newServer(t, Options{})
	c := login(t, ts)
	bid := c.createBucket("stats-bucket", "allPrivate")
	f := c.upload(bid, "a.txt", []byte("a"))
	c.download("GET", "/file/stats-bucket/a.txt", nil)
	c.must("b2_get_file_info", map[string]any{"fileId": f["fileId"]})
	c.must("b2_list_file_names", map[string]any{"bucketId": bid})
	c.wantErr("b2_list_file_names", map[string]any{"bucketId": "nope"}, 400, "bad_bucket_id")
	st := ts.Stats()
	for api, n := range map[string]int64{
		"b2_authorize_account": 1, "b2_create_bucket": 1, "b2_get_upload_url": 1, "b2_upload_file": 1,
		"b2_download_file_by_name": 1, "b2_get_file_info": 1, "b2_list_file_names": 2,
	} {
		if st.Calls[api] != n {
			t.Errorf("calls[%s] = %d want %d (%v)", api, st.Calls[api], n, st.Calls)
		}
	}
	if st.Classes["A"] != 2 || st.Classes["B"] != 2 || st.Classes["C"] != 4 {
		t.Errorf("classes %v", st.Classes)
	}
	// admin endpoints are not counted, and serve the same numbers
	resp, err := http.Get(ts.URL + "/b2emu/stats")
	if err != nil {
		t.Fatal(err)
	}
	var got Stats
	_ = json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	if got.Calls["b2_list_file_names"] != 2 || got.Classes["C"] != 4 {
		t.Errorf("GET /b2emu/stats %v", got)
	}
	if _, err := http.Post(ts.URL+"/b2emu/stats/reset", "", nil); err != nil {
		t.Fatal(err)
	}
	if st := ts.Stats(); len(st.Calls) != 0 || st.Classes["C"] != 0 {
		t.Errorf("after reset %v", st)
	}
}

func TestFaultInjection(t *testing.T) {
	ts := newServer(t, Options{})
	c := login(t, ts)
	bid := c.createBucket("fault-bucket", "allPrivate")
	c.upload(bid, "a.txt", bytes.Repeat([]byte("x"), 100000))
	list := map[string]any{"bucketId": bid}

	ts.AddFault(FaultRule{API: "b2_list_file_names", Skip: 1, Times: 2, Status: 503, RetryAfter: 7})
	c.must("b2_list_file_names", list)
	for i := 0; i < 2; i++ {
		req, _ := http.NewRequest("POST", ts.URL+"/b2api/v3/b2_list_file_names", strings.NewReader(`{"bucketId":"`+bid+`"}`))
		req.Header.Set("Authorization", c.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		resp.Body.Close()
		if resp.StatusCode != 503 || m["code"] != "service_unavailable" || resp.Header.Get("Retry-After") != "7" {
			t.Errorf("fault %d: %d %v %v", i, resp.StatusCode, m, resp.Header)
		}
	}
	c.must("b2_list_file_names", list)
	ts.ClearFaults()

	// codes derived from status
	for status, code := range map[int]string{408: "request_timeout", 429: "too_many_requests", 500: "internal_error", 403: "transaction_cap_exceeded"} {
		ts.AddFault(FaultRule{API: "*", Status: status})
		c.wantErr("b2_list_file_names", list, status, code)
	}
	// 401 expired token: the token stays expired, re-authorizing fixes it
	ts.AddFault(FaultRule{API: "b2_list_file_names", Status: 401})
	c.wantErr("b2_list_file_names", list, 401, "expired_auth_token")
	c.wantErr("b2_list_buckets", map[string]any{"accountId": c.accountID}, 401, "expired_auth_token")
	c = login(t, ts)
	c.must("b2_list_file_names", list)

	// stall: the answer comes late
	ts.AddFault(FaultRule{API: "b2_list_file_names", Action: "stall", Delay: Duration(300 * time.Millisecond)})
	start := time.Now()
	c.must("b2_list_file_names", list)
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("stall took %v", d)
	}
	// reset: headers and some bytes, then the connection dies
	ts.AddFault(FaultRule{API: "b2_download_file_by_name", Action: "reset", ResetAfterBytes: 1000})
	resp, err := http.Get(ts.URL + "/file/fault-bucket/a.txt?Authorization=" + c.token)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || err == nil || n != 1000 {
		t.Errorf("reset download: status %d read %d err %v", resp.StatusCode, n, err)
	}
	// reset on upload: nothing stored
	ts.AddFault(FaultRule{API: "b2_upload_file", Action: "reset", ResetAfterBytes: 10})
	u := c.uploadURL(bid)
	req, _ := http.NewRequest("POST", u.url, bytes.NewReader(bytes.Repeat([]byte("y"), 1000)))
	req.Header.Set("Authorization", u.token)
	req.Header.Set("X-Bz-File-Name", "reset.txt")
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set("X-Bz-Content-Sha1", "do_not_verify")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Errorf("upload reset answered %d", resp.StatusCode)
	}
	m := c.must("b2_list_file_names", map[string]any{"bucketId": bid})
	if got := listed(m); !eq(got, []string{"upload:a.txt"}) {
		t.Errorf("after upload reset %v", got)
	}
	// forever + admin endpoint with an array
	rules := `[{"api":"b2_get_file_info","times":-1,"status":429,"retryAfter":1},{"api":"b2_hide_file","status":500,"code":"custom_code","message":"boom"}]`
	resp, err = http.Post(ts.URL+"/b2emu/faults", "application/json", strings.NewReader(rules))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("POST faults: %v %v", err, resp)
	}
	resp.Body.Close()
	for i := 0; i < 3; i++ {
		c.wantErr("b2_get_file_info", map[string]any{"fileId": "4_zx"}, 429, "too_many_requests")
	}
	em := c.wantErr("b2_hide_file", map[string]any{"bucketId": bid, "fileName": "a.txt"}, 500, "custom_code")
	if em["message"] != "boom" {
		t.Errorf("message %v", em)
	}
	req, _ = http.NewRequest("DELETE", ts.URL+"/b2emu/faults", nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("DELETE faults: %v", err)
	} else {
		resp.Body.Close()
	}
	c.wantErr("b2_get_file_info", map[string]any{"fileId": "4_zx"}, 404, "not_found")
	resp, _ = http.Post(ts.URL+"/b2emu/faults", "application/json", strings.NewReader(`{"api":"x","action":"explode"}`))
	if resp.StatusCode != 400 {
		t.Errorf("bad fault rule accepted: %d", resp.StatusCode)
	}
	resp.Body.Close()
	resp, _ = http.Post(ts.URL+"/b2emu/faults", "application/json", strings.NewReader(`{"api":"b2_list_buckets","action":"stall","delay":"50ms"}`))
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("stall rule via JSON: %d", resp.StatusCode)
	}
	var d Duration
	if err := json.Unmarshal([]byte(`"2s"`), &d); err != nil || time.Duration(d) != 2*time.Second {
		t.Errorf("Duration %v %v", d, err)
	}
	if err := json.Unmarshal([]byte(`"soon"`), &d); err == nil {
		t.Error("bad duration accepted")
	}
	_ = errors.New
}

func TestAdminEndpoints(t *testing.T) {
	ts := newServer(t, Options{TokenLifetime: time.Hour})
	c := login(t, ts)
	post := func(path string) int {
		resp, err := http.Post(ts.URL+path, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := post("/b2emu/expire-tokens"); st != 200 {
		t.Fatalf("expire-tokens %d", st)
	}
	c.wantErr("b2_list_buckets", map[string]any{"accountId": c.accountID}, 401, "expired_auth_token")
	c = login(t, ts)
	if st := post("/b2emu/advance-clock?d=2h"); st != 200 {
		t.Fatalf("advance-clock %d", st)
	}
	c.wantErr("b2_list_buckets", map[string]any{"accountId": c.accountID}, 401, "expired_auth_token")
	if st := post("/b2emu/advance-clock?d=banana"); st != 400 {
		t.Errorf("bad duration: %d", st)
	}
	if st := post("/b2emu/nothing"); st != 404 {
		t.Errorf("unknown admin endpoint: %d", st)
	}
}
