package b2emu

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

type partURL struct{ url, token string }

func (c *client) partURL(fileID string) partURL {
	c.t.Helper()
	m := c.must("b2_get_upload_part_url", map[string]any{"fileId": fileID})
	return partURL{m["uploadUrl"].(string), m["authorizationToken"].(string)}
}

func (c *client) uploadPart(u partURL, n int, body []byte, sha string) (int, map[string]any) {
	c.t.Helper()
	req, _ := http.NewRequest("POST", u.url, bytes.NewReader(body))
	req.Header.Set("Authorization", u.token)
	req.Header.Set("X-Bz-Part-Number", fmt.Sprint(n))
	if sha == "" {
		sha = sha1hex(body)
	}
	req.Header.Set("X-Bz-Content-Sha1", sha)
	return c.do(req)
}

func TestLargeFileLifecycle(t *testing.T) {
	ts := newServer(t, Options{AbsoluteMinimumPartSize: 1000})
	c := login(t, ts)
	bid := c.createBucket("large-files", "allPrivate")
	start := c.must("b2_start_large_file", map[string]any{"bucketId": bid, "fileName": "big.bin",
		"contentType": "application/octet-stream", "fileInfo": map[string]string{"Large_File_Sha1": strings.Repeat("a", 40)}})
	fid := start["fileId"].(string)
	if start["fileInfo"].(map[string]any)["large_file_sha1"] == nil {
		t.Errorf("fileInfo keys not lower-cased: %v", start["fileInfo"])
	}
	p1 := bytes.Repeat([]byte("1"), 1500)
	p2 := bytes.Repeat([]byte("2"), 999) // too small unless last
	p3 := []byte("tail")
	u := c.partURL(fid)
	if !strings.Contains(u.url, "/b2api/v3/b2_upload_part/"+fid+"/") {
		t.Errorf("part url %s", u.url)
	}
	for _, tc := range []struct {
		n      int
		body   []byte
		sha    string
		status int
	}{
		{0, p1, "", 400}, {10001, p1, "", 400}, {1, p1, strings.Repeat("0", 40), 400},
	} {
		if st, m := c.uploadPart(u, tc.n, tc.body, tc.sha); st != tc.status {
			t.Errorf("part %d: %d %v", tc.n, st, m)
		}
	}
	st, pm := c.uploadPart(u, 1, bytes.Repeat([]byte("x"), 1500), "")
	if st != 200 || pm["partNumber"].(float64) != 1 || pm["contentLength"].(float64) != 1500 || pm["contentMd5"] == nil {
		t.Fatalf("part 1: %d %v", st, pm)
	}
	// re-upload replaces
	if st, m := c.uploadPart(u, 1, p1, ""); st != 200 || m["contentSha1"] != sha1hex(p1) {
		t.Fatalf("part 1 again: %d %v", st, m)
	}
	if st, m := c.uploadPart(u, 3, p3, ""); st != 200 {
		t.Fatalf("part 3: %d %v", st, m)
	}
	shas := []string{sha1hex(p1), sha1hex(p2), sha1hex(p3)}
	c.wantErr("b2_finish_large_file", map[string]any{"fileId": fid, "partSha1Array": shas}, 400, "missing_part")
	withHex := append(append([]byte{}, p2...), []byte(sha1hex(p2))...)
	if st, m := c.uploadPart(u, 2, withHex, "hex_digits_at_end"); st != 200 || m["contentLength"].(float64) != 999 {
		t.Fatalf("part 2: %d %v", st, m)
	}
	// list_parts with paging
	lp := c.must("b2_list_parts", map[string]any{"fileId": fid, "maxPartCount": 2})
	if len(lp["parts"].([]any)) != 2 || lp["nextPartNumber"].(float64) != 3 {
		t.Errorf("list_parts %v", lp)
	}
	lp = c.must("b2_list_parts", map[string]any{"fileId": fid, "startPartNumber": 3})
	if len(lp["parts"].([]any)) != 1 || lp["nextPartNumber"] != nil {
		t.Errorf("list_parts page 2 %v", lp)
	}
	c.wantErr("b2_list_parts", map[string]any{"fileId": fid, "maxPartCount": 1001}, 400, "out_of_range")
	c.wantErr("b2_finish_large_file", map[string]any{"fileId": fid, "partSha1Array": []string{shas[0], strings.Repeat("0", 40), shas[2]}}, 400, "part_sha1_mismatch")
	c.wantErr("b2_finish_large_file", map[string]any{"fileId": fid, "partSha1Array": shas}, 400, "bad_request") // part 2 too small
	c.wantErr("b2_finish_large_file", map[string]any{"fileId": fid, "partSha1Array": shas[:2]}, 400, "bad_request")
	p2 = bytes.Repeat([]byte("2"), 1000)
	if st, m := c.uploadPart(u, 2, p2, ""); st != 200 {
		t.Fatalf("part 2 again: %d %v", st, m)
	}
	shas[1] = sha1hex(p2)
	uf := c.must("b2_list_unfinished_large_files", map[string]any{"bucketId": bid})
	if len(uf["files"].([]any)) != 1 {
		t.Errorf("unfinished %v", uf)
	}
	fin := c.must("b2_finish_large_file", map[string]any{"fileId": fid, "partSha1Array": shas})
	if fin["action"] != "upload" || fin["fileId"] != fid || fin["contentSha1"] != "none" || fin["contentMd5"] != nil ||
		fin["contentLength"].(float64) != 2504 || fin["uploadTimestamp"] != start["uploadTimestamp"] {
		t.Errorf("finish %v", fin)
	}
	c.wantErr("b2_finish_large_file", map[string]any{"fileId": fid, "partSha1Array": shas}, 400, "bad_request")
	uf = c.must("b2_list_unfinished_large_files", map[string]any{"bucketId": bid})
	if len(uf["files"].([]any)) != 0 {
		t.Errorf("unfinished after finish %v", uf)
	}
	whole := append(append(append([]byte{}, p1...), p2...), p3...)
	resp, got := c.download("GET", "/file/large-files/big.bin", nil)
	if !bytes.Equal(got, whole) || resp.Header.Get("X-Bz-Content-Sha1") != "none" {
		t.Errorf("download large: %d bytes, sha %q", len(got), resp.Header.Get("X-Bz-Content-Sha1"))
	}
	resp, got = c.download("GET", "/file/large-files/big.bin", map[string]string{"Range": "bytes=1490-2510"})
	if resp.StatusCode != 206 || !bytes.Equal(got, whole[1490:]) {
		t.Errorf("range across parts: %d %d", resp.StatusCode, len(got))
	}
	// single part rejected by default, allowed by option
	s1 := c.must("b2_start_large_file", map[string]any{"bucketId": bid, "fileName": "one.bin", "contentType": "b2/x-auto"})
	if st, _ := c.uploadPart(c.partURL(s1["fileId"].(string)), 1, p1, ""); st != 200 {
		t.Fatal("part")
	}
	c.wantErr("b2_finish_large_file", map[string]any{"fileId": s1["fileId"], "partSha1Array": []string{sha1hex(p1)}}, 400, "bad_request")
	// cancel
	cn := c.must("b2_cancel_large_file", map[string]any{"fileId": s1["fileId"]})
	if cn["fileId"] != s1["fileId"] || cn["fileName"] != "one.bin" || cn["bucketId"] != bid || cn["accountId"] != c.accountID || len(cn) != 4 {
		t.Errorf("cancel %v", cn)
	}
	c.wantErr("b2_cancel_large_file", map[string]any{"fileId": s1["fileId"]}, 400, "bad_request")
	c.wantErr("b2_cancel_large_file", map[string]any{"fileId": "bad-id"}, 400, "bad_request")
	c.wantErr("b2_get_upload_part_url", map[string]any{"fileId": fid}, 400, "bad_request")

	ts2 := newServer(t, Options{AllowSinglePartLargeFile: true})
	c2 := login(t, ts2)
	b2 := c2.createBucket("single-part", "allPrivate")
	s2 := c2.must("b2_start_large_file", map[string]any{"bucketId": b2, "fileName": "one.bin", "contentType": "b2/x-auto"})
	c2.uploadPart(c2.partURL(s2["fileId"].(string)), 1, p1, "")
	c2.must("b2_finish_large_file", map[string]any{"fileId": s2["fileId"], "partSha1Array": []string{sha1hex(p1)}})

	// unfinished listing: oldest first, paging, max 100
	var ids []string
	for i := 0; i < 3; i++ {
		m := c.must("b2_start_large_file", map[string]any{"bucketId": bid, "fileName": fmt.Sprintf("u%d", 2-i), "contentType": "b2/x-auto"})
		ids = append(ids, m["fileId"].(string))
	}
	p := c.must("b2_list_unfinished_large_files", map[string]any{"bucketId": bid, "maxFileCount": 2})
	if got := listed(p); !eq(got, []string{"start:u2", "start:u1"}) || p["nextFileId"] != ids[2] {
		t.Errorf("unfinished page 1 %v %v", got, p["nextFileId"])
	}
	p = c.must("b2_list_unfinished_large_files", map[string]any{"bucketId": bid, "startFileId": p["nextFileId"]})
	if got := listed(p); !eq(got, []string{"start:u0"}) || p["nextFileId"] != nil {
		t.Errorf("unfinished page 2 %v", got)
	}
	c.wantErr("b2_list_unfinished_large_files", map[string]any{"bucketId": bid, "maxFileCount": 101}, 400, "out_of_range")
	p = c.must("b2_list_unfinished_large_files", map[string]any{"bucketId": bid, "namePrefix": "u1"})
	if got := listed(p); !eq(got, []string{"start:u1"}) {
		t.Errorf("unfinished prefix %v", got)
	}
}

func TestCopy(t *testing.T) {
	ts := newServer(t, Options{MaxFileSize: 100, AbsoluteMinimumPartSize: 10})
	c := login(t, ts)
	bid := c.createBucket("copy-source", "allPrivate")
	dst := c.createBucket("copy-dest", "allPrivate")
	src := c.upload(bid, "src.txt", []byte("0123456789"))
	u := c.uploadURL(bid)
	c.uploadRaw(u, "meta.txt", []byte("m"), map[string]string{"X-Bz-Info-Color": "blue", "Content-Type": "text/x-custom"})
	meta := c.must("b2_list_file_names", map[string]any{"bucketId": bid, "prefix": "meta"})["files"].([]any)[0].(map[string]any)

	cp := c.must("b2_copy_file", map[string]any{"sourceFileId": meta["fileId"], "fileName": "copy.txt"})
	if cp["action"] != "copy" || cp["contentType"] != "text/x-custom" || cp["fileInfo"].(map[string]any)["color"] != "blue" || cp["contentSha1"] != sha1hex([]byte("m")) || cp["fileId"] == meta["fileId"] {
		t.Errorf("COPY: %v", cp)
	}
	l := c.must("b2_list_file_names", map[string]any{"bucketId": bid, "prefix": "copy.txt"})
	if listed(l)[0] != "upload:copy.txt" {
		t.Errorf("listing after copy: %v", listed(l))
	}
	rp := c.must("b2_copy_file", map[string]any{"sourceFileId": src["fileId"], "fileName": "part.txt", "range": "bytes=2-5",
		"metadataDirective": "REPLACE", "contentType": "text/plain", "fileInfo": map[string]string{"K": "v"}, "destinationBucketId": dst})
	if rp["contentLength"].(float64) != 4 || rp["bucketId"] != dst || rp["fileInfo"].(map[string]any)["k"] != "v" || rp["contentSha1"] != sha1hex([]byte("2345")) {
		t.Errorf("REPLACE range: %v", rp)
	}
	if _, body := c.download("GET", "/file/copy-dest/part.txt", nil); string(body) != "2345" {
		t.Errorf("copied range %q", body)
	}
	for _, tc := range []map[string]any{
		{"sourceFileId": src["fileId"], "fileName": "x", "contentType": "text/plain"},
		{"sourceFileId": src["fileId"], "fileName": "x", "fileInfo": map[string]string{}},
		{"sourceFileId": src["fileId"], "fileName": "x", "metadataDirective": "REPLACE"},
		{"sourceFileId": src["fileId"], "fileName": "x", "metadataDirective": "MOVE"},
		{"sourceFileId": src["fileId"], "fileName": "x", "range": "bytes=5-2"},
		{"sourceFileId": src["fileId"], "fileName": "//bad"},
	} {
		c.wantErr("b2_copy_file", tc, 400, "bad_request")
	}
	c.wantErr("b2_copy_file", map[string]any{"sourceFileId": src["fileId"], "fileName": "x", "destinationBucketId": "nonexistent"}, 400, "bad_bucket_id")
	c.wantErr("b2_copy_file", map[string]any{"sourceFileId": "4_zmissing", "fileName": "x"}, 404, "not_found")
	// source over MaxFileSize
	big := c.upload(bid, "big.txt", bytes.Repeat([]byte("b"), 90))
	m := c.must("b2_copy_file", map[string]any{"sourceFileId": big["fileId"], "fileName": "big2.txt", "range": "bytes=0-49"})
	if m["contentLength"].(float64) != 50 {
		t.Errorf("range copy %v", m)
	}
	// copy_part builds a large file from ranges
	lf := c.must("b2_start_large_file", map[string]any{"bucketId": dst, "fileName": "assembled", "contentType": "b2/x-auto"})
	p1 := c.must("b2_copy_part", map[string]any{"sourceFileId": big["fileId"], "largeFileId": lf["fileId"], "partNumber": 1, "range": "bytes=0-19"})
	if p1["contentLength"].(float64) != 20 || p1["partNumber"].(float64) != 1 {
		t.Errorf("copy_part %v", p1)
	}
	p2 := c.must("b2_copy_part", map[string]any{"sourceFileId": src["fileId"], "largeFileId": lf["fileId"], "partNumber": 2})
	c.wantErr("b2_copy_part", map[string]any{"sourceFileId": src["fileId"], "largeFileId": lf["fileId"], "partNumber": 0}, 400, "bad_request")
	fin := c.must("b2_finish_large_file", map[string]any{"fileId": lf["fileId"], "partSha1Array": []any{p1["contentSha1"], p2["contentSha1"]}})
	if fin["contentLength"].(float64) != 30 {
		t.Errorf("assembled %v", fin)
	}
	if _, body := c.download("GET", "/file/copy-dest/assembled", nil); string(body) != strings.Repeat("b", 20)+"0123456789" {
		t.Errorf("assembled body %q", body)
	}
}

func TestCopySourceTooLarge(t *testing.T) {
	ts := newServer(t, Options{MaxFileSize: 50})
	c := login(t, ts)
	bid := c.createBucket("copy-too-large", "allPrivate")
	if _, err := ts.PutFile("copy-too-large", "big", bytes.Repeat([]byte("x"), 60), nil); err != nil {
		t.Fatal(err)
	}
	f := c.must("b2_list_file_names", map[string]any{"bucketId": bid})["files"].([]any)[0].(map[string]any)
	c.wantErr("b2_copy_file", map[string]any{"sourceFileId": f["fileId"], "fileName": "c"}, 400, "source_too_large")
	c.must("b2_copy_file", map[string]any{"sourceFileId": f["fileId"], "fileName": "c", "range": "bytes=10-59"})
}
