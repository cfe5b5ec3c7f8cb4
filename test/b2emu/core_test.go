package b2emu

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestAuthorizeShapes(t *testing.T) {
	ts := newServer(t, Options{Partner: true, RecommendedPartSize: 1 << 20})
	c := &client{t: t, base: ts.URL, hc: http.DefaultClient}

	st, v1 := c.authorize(ts.KeyID, ts.Key, 1)
	if st != 200 {
		t.Fatalf("v1: %d %v", st, v1)
	}
	for _, k := range []string{"absoluteMinimumPartSize", "accountId", "allowed", "apiUrl", "authorizationToken", "downloadUrl", "recommendedPartSize", "minimumPartSize"} {
		if _, ok := v1[k]; !ok {
			t.Errorf("v1 lacks %s: %v", k, v1)
		}
	}
	if v1["apiUrl"] != ts.URL || v1["downloadUrl"] != ts.URL {
		t.Errorf("v1 urls %v %v, want %s", v1["apiUrl"], v1["downloadUrl"], ts.URL)
	}
	if v1["recommendedPartSize"].(float64) != 1<<20 || v1["absoluteMinimumPartSize"].(float64) != 1<<10 {
		t.Errorf("part sizes %v %v", v1["recommendedPartSize"], v1["absoluteMinimumPartSize"])
	}

	st, v2 := c.authorize(ts.KeyID, ts.Key, 2)
	if st != 200 || v2["allowed"].(map[string]any)["bucketName"] != nil || v2["minimumPartSize"] != nil {
		t.Errorf("v2: %d %v", st, v2)
	}
	if _, ok := v2["allowed"].(map[string]any)["bucketName"]; !ok {
		t.Errorf("v2 allowed lacks bucketName")
	}

	st, v3 := c.authorize(ts.KeyID, ts.Key, 3)
	if st != 200 {
		t.Fatalf("v3: %d %v", st, v3)
	}
	if _, ok := v3["applicationKeyExpirationTimestamp"]; !ok || v3["applicationKeyExpirationTimestamp"] != nil {
		t.Errorf("v3 applicationKeyExpirationTimestamp: %v", v3)
	}
	api := v3["apiInfo"].(map[string]any)
	sa := api["storageApi"].(map[string]any)
	if sa["infoType"] != "storageApi" || sa["apiUrl"] != ts.URL || sa["bucketId"] != nil || sa["namePrefix"] != nil {
		t.Errorf("v3 storageApi %v", sa)
	}
	if len(sa["capabilities"].([]any)) < 10 {
		t.Errorf("master key capabilities %v", sa["capabilities"])
	}
	if g := api["groupsApi"].(map[string]any); g["groupsApiUrl"] != ts.URL || g["infoType"] != "groupsApi" {
		t.Errorf("groupsApi %v", g)
	}

	st, v4 := c.authorize(ts.KeyID, ts.Key, 4)
	if st != 200 {
		t.Fatalf("v4: %d", st)
	}
	al := v4["apiInfo"].(map[string]any)["storageApi"].(map[string]any)["allowed"].(map[string]any)
	if _, ok := al["buckets"]; !ok {
		t.Errorf("v4 allowed %v", al)
	}

	// The account id works in place of the master key id.
	if st, _ := c.authorize(ts.AccountID(), ts.Key, 3); st != 200 {
		t.Errorf("authorize with account id: %d", st)
	}
	for _, cred := range [][2]string{{ts.KeyID, "wrong"}, {"nokey", ts.Key}, {"", ""}} {
		st, m := c.authorize(cred[0], cred[1], 3)
		if st != 401 || m["code"] != "unauthorized" {
			t.Errorf("bad credentials %q: %d %v", cred, st, m)
		}
	}
	req, _ := http.NewRequest("POST", ts.URL+"/b2api/v3/b2_authorize_account", strings.NewReader("{}"))
	if st, m := c.do(req); st != 401 || m["code"] != "unauthorized" {
		t.Errorf("no Authorization header: %d %v", st, m)
	}
}

func TestTokens(t *testing.T) {
	ts := newServer(t, Options{TokenLifetime: time.Hour})
	c := login(t, ts)
	body := map[string]any{"accountId": c.accountID}
	c.must("b2_list_buckets", body)

	saved := c.token
	c.token = ""
	c.wantErr("b2_list_buckets", body, 401, "missing_auth_token")
	c.token = "4_bogus"
	c.wantErr("b2_list_buckets", body, 401, "bad_auth_token")
	c.token = saved

	ts.AdvanceClock(59 * time.Minute)
	c.must("b2_list_buckets", body)
	ts.AdvanceClock(2 * time.Minute)
	c.wantErr("b2_list_buckets", body, 401, "expired_auth_token")

	c2 := login(t, ts)
	c2.must("b2_list_buckets", body)
	ts.ExpireTokens()
	c2.wantErr("b2_list_buckets", body, 401, "expired_auth_token")
	c3 := login(t, ts)
	c3.must("b2_list_buckets", body)
}

func TestJSONConventions(t *testing.T) {
	ts := newServer(t, Options{})
	c := login(t, ts)
	resp, err := http.Get(ts.URL + "/b2api/v3/b2_no_such_api")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("unknown API: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest("POST", ts.URL+"/b2api/v3/b2_list_buckets", strings.NewReader(`{"accountId":"`+c.accountID+`","bucketName":null,"bucketId":null}`))
	req.Header.Set("Authorization", c.token)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("null fields: %d", resp.StatusCode)
	}
	if resp.Header.Get("Content-Type") != "application/json;charset=UTF-8" ||
		resp.Header.Get("Cache-Control") != "max-age=0, no-cache, no-store" {
		t.Errorf("JSON headers %v", resp.Header)
	}
	d, err := http.ParseTime(resp.Header.Get("Date"))
	if err != nil || time.Since(d) > time.Minute || time.Until(d) > time.Minute {
		t.Errorf("Date header %q", resp.Header.Get("Date"))
	}
	st, m := c.call("b2_list_buckets", map[string]any{})
	if st != 400 || m["code"] != "bad_request" {
		t.Errorf("missing accountId: %d %v", st, m)
	}
	req, _ = http.NewRequest("POST", ts.URL+"/b2api/v3/b2_list_buckets", strings.NewReader(`{not json`))
	req.Header.Set("Authorization", c.token)
	if st, m := c.do(req); st != 400 || m["code"] != "bad_json" {
		t.Errorf("bad json: %d %v", st, m)
	}
	req, _ = http.NewRequest("PUT", ts.URL+"/b2api/v3/b2_list_buckets", nil)
	req.Header.Set("Authorization", c.token)
	if st, _ := c.do(req); st != 405 {
		t.Errorf("PUT: %d", st)
	}
}

func TestBuckets(t *testing.T) {
	ts := newServer(t, Options{MaxBuckets: 4})
	c := login(t, ts)
	acct := c.accountID
	for _, tc := range []struct {
		name, typ, code string
	}{
		{"short", "allPrivate", "invalid_bucket_name"},
		{strings.Repeat("a", 64), "allPrivate", "invalid_bucket_name"},
		{"has_underscore", "allPrivate", "invalid_bucket_name"},
		{"b2-reserved", "allPrivate", "invalid_bucket_name"},
		{"good-name", "snapshot", "bad_request"},
	} {
		c.wantErr("b2_create_bucket", map[string]any{"accountId": acct, "bucketName": tc.name, "bucketType": tc.typ}, 400, tc.code)
	}
	m := c.must("b2_create_bucket", map[string]any{
		"accountId": acct, "bucketName": "Bucket-One", "bucketType": "allPublic",
		"bucketInfo":     map[string]string{"Cache-Control": "max-age=60"},
		"lifecycleRules": []any{map[string]any{"daysFromHidingToDeleting": 1, "daysFromUploadingToHiding": nil, "fileNamePrefix": ""}},
		"corsRules":      []any{},
	})
	for _, k := range []string{"accountId", "bucketId", "bucketInfo", "bucketName", "bucketType", "corsRules", "defaultServerSideEncryption", "fileLockConfiguration", "lifecycleRules", "options", "revision"} {
		if _, ok := m[k]; !ok {
			t.Errorf("bucket lacks %s", k)
		}
	}
	id1 := m["bucketId"].(string)
	rev := m["revision"].(float64)
	lr := m["lifecycleRules"].([]any)[0].(map[string]any)
	if lr["daysFromHidingToDeleting"].(float64) != 1 || lr["daysFromUploadingToHiding"] != nil {
		t.Errorf("lifecycle rules not verbatim: %v", lr)
	}
	c.wantErr("b2_create_bucket", map[string]any{"accountId": acct, "bucketName": "bucket-one", "bucketType": "allPrivate"}, 400, "duplicate_bucket_name")
	id2 := c.createBucket("aaa-second", "allPrivate")
	c.createBucket("zzz-third", "allPrivate")
	c.createBucket("mmm-fourth", "allPrivate")
	c.wantErr("b2_create_bucket", map[string]any{"accountId": acct, "bucketName": "fifth-one", "bucketType": "allPrivate"}, 400, "too_many_buckets")

	l := c.must("b2_list_buckets", map[string]any{"accountId": acct})
	var names []string
	for _, b := range l["buckets"].([]any) {
		names = append(names, b.(map[string]any)["bucketName"].(string))
	}
	if !eq(names, []string{"Bucket-One", "aaa-second", "mmm-fourth", "zzz-third"}) {
		t.Errorf("list order %v", names)
	}
	l = c.must("b2_list_buckets", map[string]any{"accountId": acct, "bucketName": "nope-nope"})
	if len(l["buckets"].([]any)) != 0 {
		t.Errorf("non-matching filter %v", l)
	}
	l = c.must("b2_list_buckets", map[string]any{"accountId": acct, "bucketTypes": []string{"allPublic"}})
	if len(l["buckets"].([]any)) != 1 {
		t.Errorf("bucketTypes filter %v", l)
	}
	c.must("b2_list_buckets", map[string]any{"accountId": acct, "bucketTypes": []string{"all"}})
	for _, bt := range [][]string{{}, {"all", "allPublic"}, {"weird"}} {
		c.wantErr("b2_list_buckets", map[string]any{"accountId": acct, "bucketTypes": bt}, 400, "bad_request")
	}
	// GET with a query: JSON array and repeated keys.
	if st, m := c.get("b2_list_buckets", "accountId="+acct+`&bucketTypes=["allPrivate"]`); st != 200 || len(m["buckets"].([]any)) != 3 {
		t.Errorf("GET json array: %d %v", st, m)
	}
	if st, m := c.get("b2_list_buckets", "accountId="+acct+"&bucketTypes=allPrivate&bucketTypes=allPublic"); st != 200 || len(m["buckets"].([]any)) != 4 {
		t.Errorf("GET repeated keys: %d %v", st, m)
	}

	u := c.must("b2_update_bucket", map[string]any{"accountId": acct, "bucketId": id1, "bucketType": "allPrivate", "ifRevisionIs": rev})
	if u["revision"].(float64) != rev+1 || u["bucketType"] != "allPrivate" || u["bucketInfo"].(map[string]any)["Cache-Control"] != "max-age=60" {
		t.Errorf("update: %v", u)
	}
	c.wantErr("b2_update_bucket", map[string]any{"accountId": acct, "bucketId": id1, "bucketInfo": map[string]string{}, "ifRevisionIs": rev}, 409, "conflict")
	c.wantErr("b2_update_bucket", map[string]any{"accountId": acct, "bucketId": "nonexistent0000000000000"}, 400, "bad_bucket_id")

	// delete: only empty buckets; hide markers and unfinished large files count.
	c.upload(id2, "x.txt", []byte("x"))
	c.wantErr("b2_delete_bucket", map[string]any{"accountId": acct, "bucketId": id2}, 400, "cannot_delete_non_empty_bucket")
	lf := c.must("b2_list_file_versions", map[string]any{"bucketId": id2})
	f := lf["files"].([]any)[0].(map[string]any)
	c.must("b2_hide_file", map[string]any{"bucketId": id2, "fileName": "x.txt"})
	c.must("b2_delete_file_version", map[string]any{"fileName": "x.txt", "fileId": f["fileId"]})
	c.wantErr("b2_delete_bucket", map[string]any{"accountId": acct, "bucketId": id2}, 400, "cannot_delete_non_empty_bucket")
	hm := c.must("b2_list_file_versions", map[string]any{"bucketId": id2})["files"].([]any)[0].(map[string]any)
	c.must("b2_delete_file_version", map[string]any{"fileName": "x.txt", "fileId": hm["fileId"]})
	sl := c.must("b2_start_large_file", map[string]any{"bucketId": id2, "fileName": "big", "contentType": "b2/x-auto"})
	c.wantErr("b2_delete_bucket", map[string]any{"accountId": acct, "bucketId": id2}, 400, "cannot_delete_non_empty_bucket")
	c.must("b2_cancel_large_file", map[string]any{"fileId": sl["fileId"]})
	d := c.must("b2_delete_bucket", map[string]any{"accountId": acct, "bucketId": id2})
	if d["bucketName"] != "aaa-second" {
		t.Errorf("delete response %v", d)
	}
	c.wantErr("b2_delete_bucket", map[string]any{"accountId": acct, "bucketId": id2}, 400, "bad_bucket_id")
	c.createBucket("AAA-second", "allPrivate") // the name is free again
}

func TestUploadAndFileObject(t *testing.T) {
	ts := newServer(t, Options{})
	c := login(t, ts)
	bid := c.createBucket("upload-bucket", "allPrivate")
	body := []byte("hello world")
	u := c.uploadURL(bid)
	if !strings.HasPrefix(u.url, ts.URL+"/b2api/v3/b2_upload_file/"+bid+"/") || u.token == c.token {
		t.Fatalf("upload url %+v", u)
	}
	st, f := c.uploadRaw(u, "docs/hello.txt", body, map[string]string{"X-Bz-Info-Src_Last_Modified_Millis": "1705313690000"})
	if st != 200 {
		t.Fatalf("upload: %d %v", st, f)
	}
	want := map[string]any{
		"accountId": c.accountID, "action": "upload", "bucketId": bid, "contentLength": float64(11),
		"contentMd5": "5eb63bbbe01eeed093cb22bb8f5acdc3", "contentSha1": "2aae6c35c94fcfb415dbe95f408b9ce91ee846ed",
		"contentType": "text/plain", "fileName": "docs/hello.txt",
	}
	for k, v := range want {
		if f[k] != v {
			t.Errorf("%s = %v, want %v", k, f[k], v)
		}
	}
	if f["fileInfo"].(map[string]any)["src_last_modified_millis"] != "1705313690000" {
		t.Errorf("fileInfo %v", f["fileInfo"])
	}
	for _, k := range []string{"fileRetention", "legalHold", "serverSideEncryption", "uploadTimestamp", "fileId"} {
		if _, ok := f[k]; !ok {
			t.Errorf("upload object lacks %s", k)
		}
	}
	// the URL can be reused sequentially
	if st, m := c.uploadRaw(u, "docs/again.bin", body, map[string]string{"Content-Type": "application/x-custom"}); st != 200 || m["contentType"] != "application/x-custom" {
		t.Errorf("second upload: %d %v", st, m)
	}
	gi := c.must("b2_get_file_info", map[string]any{"fileId": f["fileId"]})
	if gi["fileName"] != "docs/hello.txt" || gi["contentSha1"] != f["contentSha1"] {
		t.Errorf("get_file_info %v", gi)
	}
	c.wantErr("b2_get_file_info", map[string]any{"fileId": "4_zdoesnotexist"}, 404, "not_found")
	c.wantErr("b2_get_file_info", map[string]any{"fileId": "bad id!"}, 400, "bad_request")
	if st, m := c.get("b2_get_file_info", "fileId="+f["fileId"].(string)); st != 200 || m["fileName"] != "docs/hello.txt" {
		t.Errorf("GET get_file_info: %d %v", st, m)
	}

	type tc struct {
		name   string
		enc    string
		body   []byte
		hdr    map[string]string
		status int
		code   string
	}
	big := bytes.Repeat([]byte("a"), 300)
	cases := []tc{
		{"bad sha1", "a.txt", body, map[string]string{"X-Bz-Content-Sha1": strings.Repeat("0", 40)}, 400, "bad_request"},
		{"sha1 garbage", "a.txt", body, map[string]string{"X-Bz-Content-Sha1": "xyz"}, 400, "bad_request"},
		{"no sha1", "a.txt", body, map[string]string{"X-Bz-Content-Sha1": ""}, 400, "bad_request"},
		{"no name", "", body, nil, 400, "bad_request"},
		{"no content type", "a.txt", body, map[string]string{"Content-Type": ""}, 400, "bad_request"},
		{"malformed escape", "a%2", body, nil, 400, "bad_request"},
		{"bad hex escape", "a%zz", body, nil, 400, "bad_request"},
		{"invalid utf8", "a%ff%fe", body, nil, 400, "bad_request"},
		{"control char", "a%01b", body, nil, 400, "bad_request"},
		{"DEL", "a%7Fb", body, nil, 400, "bad_request"},
		{"leading slash", "/a", body, nil, 400, "bad_request"},
		{"trailing slash", "a/", body, nil, 400, "bad_request"},
		{"double slash", "a//b", body, nil, 400, "bad_request"},
		{"backslash", "a%5Cb", body, nil, 400, "bad_request"},
		{"long segment", strings.Repeat("s", 251), body, nil, 400, "bad_request"},
		{"too long", strings.Repeat("s/", 513), body, nil, 400, "bad_request"},
		{"content-disposition", "a.txt", body, map[string]string{"Content-Disposition": "inline"}, 400, "bad_request"},
		{"content-encoding", "a.txt", body, map[string]string{"Content-Encoding": "gzip"}, 400, "bad_request"},
		{"content-language", "a.txt", body, map[string]string{"Content-Language": "en"}, 400, "bad_request"},
		{"expires", "a.txt", body, map[string]string{"Expires": "Thu, 01 Dec 1994 16:00:00 GMT"}, 400, "bad_request"},
		{"content-location", "a.txt", body, map[string]string{"Content-Location": "/x"}, 400, "bad_request"},
		{"content-range", "a.txt", body, map[string]string{"Content-Range": "bytes 0-1/2"}, 400, "bad_request"},
		{"reserved info", "a.txt", body, map[string]string{"X-Bz-Info-b2-unknown": "x"}, 400, "bad_request"},
		{"bad b2-expires", "a.txt", body, map[string]string{"X-Bz-Info-b2-expires": "tomorrow"}, 400, "bad_request"},
		{"info key too long", "a.txt", body, map[string]string{"X-Bz-Info-" + strings.Repeat("k", 51): "v"}, 400, "bad_request"},
		{"info value bad escape", "a.txt", body, map[string]string{"X-Bz-Info-k": "%G1"}, 400, "bad_request"},
		{"header budget", "a.txt", body, map[string]string{"X-Bz-Info-a": strings.Repeat("v", 3500), "X-Bz-Info-b": strings.Repeat("v", 3500)}, 400, "bad_request"},
	}
	eleven := map[string]string{}
	for i := 0; i < 11; i++ {
		eleven[fmt.Sprintf("X-Bz-Info-k%d", i)] = "v"
	}
	cases = append(cases, tc{"11 info headers", "a.txt", body, eleven, 400, "bad_request"})
	for _, k := range cases {
		st, m := c.uploadRaw(u, k.enc, k.body, k.hdr)
		if st != k.status || m["code"] != k.code {
			t.Errorf("%s: %d %v, want %d %s", k.name, st, m, k.status, k.code)
		}
	}
	// Relaxed names allow the legacy cases; MaxFileSize caps uploads.
	ts2 := newServer(t, Options{RelaxedNames: true, MaxFileSize: 200})
	c2 := login(t, ts2)
	u2 := c2.uploadURL(c2.createBucket("relaxed-bucket", "allPrivate"))
	if st, m := c2.uploadRaw(u2, "/lead//x%5C/", body, nil); st != 200 || m["fileName"] != "/lead//x\\/" {
		t.Errorf("relaxed names: %d %v", st, m)
	}
	if st, m := c2.uploadRaw(u2, "%01", body, nil); st != 400 {
		t.Errorf("relaxed names still reject control chars: %d %v", st, m)
	}
	if st, m := c2.uploadRaw(u2, "big", big, nil); st != 400 || m["code"] != "bad_request" {
		t.Errorf("too large: %d %v", st, m)
	}

	// hex_digits_at_end and do_not_verify
	withHex := append(append([]byte{}, body...), []byte(sha1hex(body))...)
	if st, m := c.uploadRaw(u, "hex.txt", withHex, map[string]string{"X-Bz-Content-Sha1": "hex_digits_at_end"}); st != 200 || m["contentLength"].(float64) != 11 || m["contentSha1"] != sha1hex(body) {
		t.Errorf("hex_digits_at_end: %d %v", st, m)
	}
	badHex := append(append([]byte{}, body...), []byte(strings.Repeat("1", 40))...)
	if st, m := c.uploadRaw(u, "hex.txt", badHex, map[string]string{"X-Bz-Content-Sha1": "hex_digits_at_end"}); st != 400 || m["message"] != "Sha1 did not match data received" {
		t.Errorf("hex_digits_at_end mismatch: %d %v", st, m)
	}
	if st, m := c.uploadRaw(u, "nv.txt", body, map[string]string{"X-Bz-Content-Sha1": "do_not_verify"}); st != 200 || m["contentSha1"] != "unverified:"+sha1hex(body) {
		t.Errorf("do_not_verify: %d %v", st, m)
	}
	// wrong method, wrong token
	req, _ := http.NewRequest("GET", u.url, nil)
	req.Header.Set("Authorization", u.token)
	if st, m := c.do(req); st != 405 || m["code"] != "method_not_allowed" {
		t.Errorf("GET upload url: %d %v", st, m)
	}
	if st, m := c.uploadRaw(uploadURL{u.url, c.token}, "a.txt", body, nil); st != 401 || m["code"] != "bad_auth_token" {
		t.Errorf("account token on upload url: %d %v", st, m)
	}
	if st, m := c.uploadRaw(uploadURL{u.url, ""}, "a.txt", body, nil); st != 401 {
		t.Errorf("no token on upload url: %d %v", st, m)
	}
	// chunked body
	req, _ = http.NewRequest("POST", u.url, io_nopLen(body))
	req.Header.Set("Authorization", u.token)
	req.Header.Set("X-Bz-File-Name", "c.txt")
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set("X-Bz-Content-Sha1", sha1hex(body))
	if st, m := c.do(req); st != 400 {
		t.Errorf("chunked upload: %d %v", st, m)
	}
	// test modes
	if st, m := c.uploadRaw(u, "cap.txt", body, map[string]string{"X-Bz-Test-Mode": "force_cap_exceeded"}); st != 403 || m["code"] != "storage_cap_exceeded" {
		t.Errorf("force_cap_exceeded: %d %v", st, m)
	}
	fails := 0
	for i := 0; i < 9; i++ {
		if st, _ := c.uploadRaw(u, "some.txt", body, map[string]string{"X-Bz-Test-Mode": "fail_some_uploads"}); st == 503 {
			fails++
		}
	}
	if fails != 3 {
		t.Errorf("fail_some_uploads failed %d of 9", fails)
	}
}

// io_nopLen hides the length of a body so net/http sends it chunked.
func io_nopLen(b []byte) *struct{ *bytes.Reader } {
	return &struct{ *bytes.Reader }{bytes.NewReader(b)}
}

func TestPercentEncodingPlus(t *testing.T) {
	ts := newServer(t, Options{})
	c := login(t, ts)
	bid := c.createBucket("enc-bucket", "allPrivate")
	u := c.uploadURL(bid)
	for _, tc := range []struct{ enc, name string }{
		{"a+b.txt", "a b.txt"},
		{"a%2Bb.txt", "a+b.txt"},
		{"a%2bc.txt", "a+c.txt"},
		{"kitten%20pics/cat%201.jpg", "kitten pics/cat 1.jpg"},
		{"%E8%87%AA%E7%94%B1.txt", "自由.txt"},
		{"50%25/x%2Cy", "50%/x,y"},
		{"a%2Bb=c.txt", "a+b=c.txt"},
	} {
		st, m := c.uploadRaw(u, tc.enc, []byte(tc.enc), map[string]string{"X-Bz-Info-Note": tc.enc})
		if st != 200 || m["fileName"] != tc.name {
			t.Errorf("%q: %d %v, want name %q", tc.enc, st, m, tc.name)
			continue
		}
		if got := m["fileInfo"].(map[string]any)["note"]; got != tc.name {
			t.Errorf("info %q decoded to %q, want %q", tc.enc, got, tc.name)
		}
		resp, _ := c.download("GET", "/file/enc-bucket/"+percentEncode(tc.name), nil)
		if resp.StatusCode != 200 || resp.Header.Get("X-Bz-File-Name") != percentEncode(tc.name) ||
			resp.Header.Get("x-bz-info-note") != percentEncode(tc.name) {
			t.Errorf("download %q: %d %v", tc.name, resp.StatusCode, resp.Header)
		}
	}
}

func TestOneUploadPerURL(t *testing.T) {
	ts := newServer(t, Options{})
	c := login(t, ts)
	bid := c.createBucket("single-flight", "allPrivate")
	u := c.uploadURL(bid)
	body := bytes.Repeat([]byte("z"), 64<<10)
	// The first upload's body stalls halfway until the second upload has
	// been refused, so the two overlap deterministically.
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", u.url, pr)
	req.ContentLength = int64(len(body))
	req.Header.Set("Authorization", u.token)
	req.Header.Set("X-Bz-File-Name", "first")
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set("X-Bz-Content-Sha1", sha1hex(body))
	type result struct {
		status int
		err    error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- result{0, err}
			return
		}
		resp.Body.Close()
		done <- result{resp.StatusCode, nil}
	}()
	if _, err := pw.Write(body[:len(body)/2]); err != nil {
		t.Fatal(err)
	}
	refused := false
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		st, m := c.uploadRaw(u, "second", []byte("x"), nil)
		if st == 400 && m["code"] == "auth_token_limit" {
			refused = true
			break
		}
		if st != 200 {
			t.Fatalf("second upload: %d %v", st, m)
		}
	}
	if _, err := pw.Write(body[len(body)/2:]); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	r := <-done
	if !refused || r.status != 200 {
		t.Fatalf("refused=%v first upload %d %v", refused, r.status, r.err)
	}
	// once the first is done the URL is free again
	if st, _ := c.uploadRaw(u, "after", []byte("x"), nil); st != 200 {
		t.Errorf("sequential reuse: %d", st)
	}
}
