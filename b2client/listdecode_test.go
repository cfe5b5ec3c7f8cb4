package b2client

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// reflectivePage decodes a listing answer the way encoding/json does.
func reflectivePage(body []byte) (ListPage, error) {
	var w wireListPage
	if err := json.Unmarshal(body, &w); err != nil {
		return ListPage{}, err
	}
	return w.page(), nil
}

// samePage checks that decodeListPage and encoding/json agree on body:
// both fail, or both give the same page.
func samePage(t *testing.T, body []byte) (ListPage, bool) {
	t.Helper()
	want, werr := reflectivePage(body)
	var got ListPage
	gerr := decodeListPage(body, &got)
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("decode %q: error %v, encoding/json's %v", body, gerr, werr)
	}
	if werr != nil {
		return got, false
	}
	if len(got.Files) == 0 && len(want.Files) == 0 {
		got.Files, want.Files = nil, nil
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decode %q:\n got %+v\nwant %+v", body, got, want)
	}
	return got, true
}

// A B2 answer as the service sends it (fields in its order, the objects
// b2fs does not read, a folder entry, a version listing's nextFileId).
const b2Page = `{
  "files": [
    {
      "accountId": "0123456789ab",
      "action": "upload",
      "bucketId": "e73ede9c9c8412db49f60715",
      "contentLength": 7,
      "contentMd5": "6d4b0e0b9f8d7b5a3f0e1c2d3b4a5968",
      "contentSha1": "dc724af18fbdd4e59189f5fe768a5f8311527050",
      "contentType": "text/plain",
      "fileId": "4_ze73ede9c9c8412db49f60715_f1001_d20261206_m155644_c000_v0001000_t0001_u01700000000000",
      "fileInfo": {"src_last_modified_millis": "1700000000000", "b2fs-mode": "100644"},
      "fileName": "dir/caf\u00e9 \"quoted\" \\ \/.txt",
      "fileRetention": {"isClientAuthorizedToRead": true, "value": {"mode": null, "retainUntilTimestamp": null}},
      "legalHold": {"isClientAuthorizedToRead": true, "value": null},
      "replicationStatus": null,
      "serverSideEncryption": {"algorithm": null, "mode": null},
      "uploadTimestamp": 1700000000123
    },
    {"accountId": "0123456789ab", "action": "folder", "bucketId": "e73ede9c9c8412db49f60715", "contentLength": 0,
     "contentMd5": null, "contentSha1": null, "contentType": null, "fileId": null, "fileInfo": {}, "fileName": "dir/sub/",
     "uploadTimestamp": 0},
    {"action": "upload", "size": 42, "fileName": "v1.txt", "fileInfo": null, "contentSha1": "none", "uploadTimestamp": -1,
     "fileId": "x", "extra": [1, -2.5e3, "s", true, false, null, {"a": [[]]}]}
  ],
  "nextFileName": "dir/\u00e9",
  "nextFileId": null
}`

func TestDecodeListPageAgreesWithEncodingJSON(t *testing.T) {
	p, ok := samePage(t, []byte(b2Page))
	if !ok || len(p.Files) != 3 {
		t.Fatalf("B2's page: %+v", p)
	}
	f := p.Files[0]
	if f.Name != `dir/café "quoted" \ /.txt` || f.Size != 7 || f.Info["b2fs-mode"] != "100644" || f.UploadTimestamp != 1700000000123 {
		t.Errorf("first file %+v", f)
	}
	if p.Files[2].Size != 42 || p.Files[2].Info != nil || p.NextName != "dir/é" || p.NextID != "" {
		t.Errorf("v1 size, null info or next name: %+v", p)
	}
	// Values that repeat from file to file are one string.
	if strings.Clone(p.Files[0].AccountID) != p.Files[1].AccountID ||
		strings.Clone(p.Files[0].BucketID) != p.Files[1].BucketID {
		t.Errorf("account or bucket differ: %+v", p.Files[:2])
	}

	for _, body := range []string{
		`{}`,
		`{"files":[]}`,
		`{"files":null,"nextFileName":null}`,
		` { "files" : [ { } ] , "nextFileName" : "a" } `,
		`{"files":[{"fileName":"a"}],"nextFileName":"b","nextFileId":"c"}`,
		// encoding/json matches names case-insensitively
		`{"Files":[{"FileName":"a","CONTENTLENGTH":3}]}`,
		`{"files":[{"fileName":"a","FileName":"b"}]}`,
		// duplicates: the last wins; fileInfo objects merge
		`{"files":[{"fileName":"a","fileName":"b","fileInfo":{"x":"1"},"fileInfo":{"y":"2","x":"3"}}]}`,
		`{"files":[{"contentLength":5,"contentLength":null,"size":3}]}`,
		`{"files":[{"uploadTimestamp":5,"uploadTimestamp":null,"fileName":null}]}`,
		// escapes, control characters, invalid UTF-8, surrogate pairs
		`{"files":[{"fileName":"\ud83c\udfb5 \u0000\t\b\f\n\r\u00e9\u20ac"}]}`,
		"{\"files\":[{\"fileName\":\"bad \xff utf8\"}]}",
		"{\"files\":[{\"fileName\":\"raw\ttab\"}]}",
		`{"files":[{"fileName":"lone \udc00 surrogate"}]}`,
		`{"files":[{"fileInfo":{"k\u00e9y":"v","":"empty","dup":"1","dup":"2"}}]}`,
		`{"files":[{"fileInfo":{"a":null}}]}`,
		`{"files":[{"fileInfo":{"a":1}}]}`,
		// numbers
		`{"files":[{"contentLength":-0,"uploadTimestamp":9223372036854775807}]}`,
		`{"files":[{"contentLength":1.5}]}`,
		`{"files":[{"contentLength":1e3}]}`,
		`{"files":[{"contentLength":01}]}`,
		`{"files":[{"contentLength":9223372036854775808}]}`,
		`{"files":[{"contentLength":"7"}]}`,
		`{"files":[{"fileName":7}]}`,
		`{"files":[{"x":01}]}`,
		`{"files":[{"x":-}]}`,
		`{"files":[{"x":tru}]}`,
		`{"files":[{"x":[1,]}]}`,
		// not JSON, or not the expected shape
		``, `[]`, `null`, `{"files":{}}`, `{"files":[1]}`, `{"files":[{"fileName":"a"}]`,
		`{"files":[{"fileName":"a"}]} x`, `{"files":[{"fileName":"a}]}`, `{"files":[{"fileName" "a"}]}`,
		`{"files":[{"fileName":"a",}]}`, `{"files":[{"fileName":"a"},]}`, `{,}`,
	} {
		samePage(t, []byte(body))
	}
}

// TestDecodeListPageAllocations: a page of many files allocates
// the strings each file keeps and little else.
func TestDecodeListPageAllocations(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"files":[`)
	const n = 1000
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"accountId":"0123456789ab","action":"upload","bucketId":"e73ede9c9c8412db49f60715","contentLength":%d,`+
			`"contentMd5":null,"contentSha1":"da39a3ee5e6b4b0d3255bfef95601890afd80709","contentType":"application/octet-stream",`+
			`"fileId":"4_z_f%016x","fileInfo":{"src_last_modified_millis":"%d"},"fileName":"big/f%07d.dat",`+
			`"fileRetention":{"isClientAuthorizedToRead":true,"value":{"mode":null,"retainUntilTimestamp":null}},`+
			`"legalHold":{"isClientAuthorizedToRead":true,"value":null},"serverSideEncryption":{"algorithm":null,"mode":null},`+
			`"uploadTimestamp":1700000000000}`, i, i, 1700000000000+i, i)
	}
	b.WriteString(`],"nextFileName":null}`)
	body := []byte(b.String())
	samePage(t, body)
	allocs := testing.AllocsPerRun(5, func() {
		p := ListPage{Files: make([]File, 0, n)}
		if err := decodeListPage(body, &p); err != nil || len(p.Files) != n {
			t.Fatalf("%d files, %v", len(p.Files), err)
		}
	})
	// Per file: one for fileId, fileName and contentSha1 together, the
	// info value and its map (two allocations): 4. encoding/json makes
	// about 12.
	if perFile := allocs / n; perFile > 4.5 {
		t.Errorf("%.1f allocations per file, want at most 4.5", perFile)
	}
	p := ListPage{Files: make([]File, 0, n)}
	if err := decodeListPage(body, &p); err != nil {
		t.Fatal(err)
	}
	if f := p.Files[7]; f.ID != fmt.Sprintf("4_z_f%016x", 7) || f.Name != "big/f0000007.dat" || f.SHA1 != "da39a3ee5e6b4b0d3255bfef95601890afd80709" {
		t.Errorf("file 7: %+v", f)
	}
}

func FuzzDecodeListPage(f *testing.F) {
	f.Add([]byte(b2Page))
	f.Add([]byte(`{"files":[{"fileName":"a","FILENAME":"\u00e9","fileInfo":{"x":"1"},"size":1}],"nextFileId":"z"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		samePage(t, body)
	})
}
