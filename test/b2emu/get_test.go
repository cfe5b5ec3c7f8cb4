package b2emu

import (
	"fmt"
	"net/url"
	"testing"
)

// TestGetQueryEquivalents checks that every read-only JSON call answers the
// same through GET + query string as through POST + JSON, and that array
// parameters work as JSON-encoded arrays and as repeated keys.
func TestGetQueryEquivalents(t *testing.T) {
	ts := newServer(t, Options{AbsoluteMinimumPartSize: 1})
	c := login(t, ts)
	bid := c.createBucket("get-equivalents", "allPrivate")
	f := c.upload(bid, "dir/a b+c.txt", []byte("abc"))
	c.upload(bid, "dir/sub/x", []byte("x"))
	lf := c.must("b2_start_large_file", map[string]any{"bucketId": bid, "fileName": "large", "contentType": "b2/x-auto"})
	pu := c.partURL(lf["fileId"].(string))
	c.uploadPart(pu, 1, []byte("p1"), "")
	c.uploadPart(pu, 2, []byte("p2"), "")

	for _, tc := range []struct {
		api  string
		body map[string]any
	}{
		{"b2_list_buckets", map[string]any{"accountId": c.accountID, "bucketName": "get-equivalents"}},
		{"b2_list_file_names", map[string]any{"bucketId": bid, "prefix": "dir/", "delimiter": "/", "maxFileCount": 5}},
		{"b2_list_file_versions", map[string]any{"bucketId": bid, "startFileName": "dir/a b+c.txt", "maxFileCount": 1}},
		{"b2_get_file_info", map[string]any{"fileId": f["fileId"]}},
		{"b2_list_parts", map[string]any{"fileId": lf["fileId"], "startPartNumber": 2}},
		{"b2_list_unfinished_large_files", map[string]any{"bucketId": bid, "namePrefix": "lar"}},
		{"b2_list_keys", map[string]any{"accountId": c.accountID, "maxKeyCount": 10}},
	} {
		_, post := c.call(tc.api, tc.body)
		q := url.Values{}
		for k, v := range tc.body {
			q.Set(k, fmt.Sprint(v))
		}
		st, get := c.get(tc.api, q.Encode())
		if st != 200 || fmt.Sprint(get) != fmt.Sprint(post) {
			t.Errorf("%s: GET %d %v\nPOST %v", tc.api, st, get, post)
		}
	}
	// arrays: JSON-encoded and repeated keys
	q := url.Values{"accountId": {c.accountID}, "keyName": {"from-get"}, "capabilities": {`["listFiles","readFiles"]`}}
	if st, m := c.get("b2_create_key", q.Encode()); st != 200 || len(m["capabilities"].([]any)) != 2 {
		t.Errorf("create_key JSON array: %d %v", st, m)
	}
	q = url.Values{"accountId": {c.accountID}, "keyName": {"from-get"}, "capabilities": {"listFiles", "readFiles", "shareFiles"}}
	if st, m := c.get("b2_create_key", q.Encode()); st != 200 || len(m["capabilities"].([]any)) != 3 {
		t.Errorf("create_key repeated keys: %d %v", st, m)
	}
	q = url.Values{"fileId": {lf["fileId"].(string)}, "partSha1Array": {sha1hex([]byte("p1")), sha1hex([]byte("p2"))}}
	if st, m := c.get("b2_finish_large_file", q.Encode()); st != 200 || m["contentLength"].(float64) != 4 {
		t.Errorf("finish via GET: %d %v", st, m)
	}
	if st, m := c.get("b2_hide_file", "bucketId="+bid+"&fileName="+url.QueryEscape("dir/a b+c.txt")); st != 200 || m["action"] != "hide" {
		t.Errorf("hide via GET: %d %v", st, m)
	}
	// null in a query means absent
	if st, m := c.get("b2_list_file_names", "bucketId="+bid+"&prefix=null&delimiter=null"); st != 200 || len(m["files"].([]any)) != 2 {
		t.Errorf("null query values: %d %v", st, listed(m))
	}
}
