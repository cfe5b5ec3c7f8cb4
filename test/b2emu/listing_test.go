package b2emu

import (
	"fmt"
	"sort"
	"testing"
	"time"
)

var workedExample = []string{
	"photos/alfred.jpg", "photos/alice.jpg", "photos/cats/fluffy.jpg", "photos/cats/mittens.jpg",
	"photos/dogs/spot.jpg", "photos/lilly.jpg", "readme.txt",
}

func TestListWorkedExample(t *testing.T) {
	ts := newServer(t, Options{})
	c := login(t, ts)
	bid := c.createBucket("worked-example", "allPrivate")
	for i := len(workedExample) - 1; i >= 0; i-- { // upload out of order
		c.upload(bid, workedExample[i], []byte(workedExample[i]))
	}
	var all []string
	for _, n := range workedExample {
		all = append(all, "upload:"+n)
	}
	for _, tc := range []struct {
		prefix, delim string
		want          []string
	}{
		{"", "", all},
		{"", "/", []string{"folder:photos/", "upload:readme.txt"}},
		{"photos/", "/", []string{"upload:photos/alfred.jpg", "upload:photos/alice.jpg", "folder:photos/cats/", "folder:photos/dogs/", "upload:photos/lilly.jpg"}},
		{"photos/c", "/", []string{"folder:photos/cats/"}},
		{"photos/c", "", []string{"upload:photos/cats/fluffy.jpg", "upload:photos/cats/mittens.jpg"}},
	} {
		for _, api := range []string{"b2_list_file_names", "b2_list_file_versions"} {
			body := map[string]any{"bucketId": bid, "prefix": tc.prefix}
			if tc.delim != "" {
				body["delimiter"] = tc.delim
			}
			m := c.must(api, body)
			if got := listed(m); !eq(got, tc.want) {
				t.Errorf("%s prefix %q delim %q: got %v want %v", api, tc.prefix, tc.delim, got, tc.want)
			}
			if m["nextFileName"] != nil {
				t.Errorf("%s: nextFileName %v", api, m["nextFileName"])
			}
		}
		// the same through GET + query
		q := "bucketId=" + bid + "&prefix=" + percentEncode(tc.prefix)
		if tc.delim != "" {
			q += "&delimiter=" + tc.delim
		}
		if st, m := c.get("b2_list_file_names", q); st != 200 || !eq(listed(m), tc.want) {
			t.Errorf("GET prefix %q: %d %v", tc.prefix, st, listed(m))
		}
	}
	// a folder entry's shape
	m := c.must("b2_list_file_names", map[string]any{"bucketId": bid, "delimiter": "/"})
	f := m["files"].([]any)[0].(map[string]any)
	if f["fileId"] != nil || f["uploadTimestamp"].(float64) != 0 || f["contentLength"].(float64) != 0 || f["bucketId"] != bid {
		t.Errorf("folder entry %v", f)
	}
}

func TestListHiddenAndVersions(t *testing.T) {
	ts := newServer(t, Options{})
	c := login(t, ts)
	bid := c.createBucket("hidden-files", "allPrivate")
	for _, n := range workedExample {
		c.upload(bid, n, []byte("v1"))
	}
	v2 := c.upload(bid, "readme.txt", []byte("v2 longer"))
	c.must("b2_hide_file", map[string]any{"bucketId": bid, "fileName": "photos/dogs/spot.jpg"})
	c.wantErr("b2_hide_file", map[string]any{"bucketId": bid, "fileName": "photos/dogs/spot.jpg"}, 400, "already_hidden")
	c.wantErr("b2_hide_file", map[string]any{"bucketId": bid, "fileName": "no/such"}, 400, "no_such_file")
	hm := c.must("b2_hide_file", map[string]any{"bucketId": bid, "fileName": "photos/alice.jpg"})
	if hm["action"] != "hide" || hm["contentType"] != "application/x-bz-hide-marker" || hm["contentSha1"] != emptySHA1 || hm["contentMd5"] != emptyMD5 || hm["contentLength"].(float64) != 0 {
		t.Errorf("hide marker %v", hm)
	}
	for _, k := range []string{"fileRetention", "legalHold", "serverSideEncryption"} {
		if _, ok := hm[k]; ok {
			t.Errorf("hide marker has %s", k)
		}
	}
	if len(hm["fileInfo"].(map[string]any)) != 0 {
		t.Errorf("hide marker fileInfo %v", hm["fileInfo"])
	}
	m := c.must("b2_list_file_names", map[string]any{"bucketId": bid, "prefix": "photos/", "delimiter": "/"})
	want := []string{"upload:photos/alfred.jpg", "folder:photos/cats/", "upload:photos/lilly.jpg"}
	if got := listed(m); !eq(got, want) {
		t.Errorf("names after hide: %v want %v", got, want)
	}
	m = c.must("b2_list_file_names", map[string]any{"bucketId": bid})
	for _, f := range m["files"].([]any) {
		fm := f.(map[string]any)
		if fm["fileName"] == "readme.txt" && fm["fileId"] != v2["fileId"] {
			t.Errorf("names listing shows old readme version")
		}
	}
	// an unfinished large file does not appear in names but does in versions
	st := c.must("b2_start_large_file", map[string]any{"bucketId": bid, "fileName": "photos/zz-large.bin", "contentType": "b2/x-auto"})
	if st["action"] != "start" || st["contentSha1"] != "none" || st["contentMd5"] != nil || st["contentType"] != "application/octet-stream" {
		t.Errorf("start %v", st)
	}
	m = c.must("b2_list_file_versions", map[string]any{"bucketId": bid, "prefix": "photos/"})
	want = []string{"upload:photos/alfred.jpg", "hide:photos/alice.jpg", "upload:photos/alice.jpg",
		"upload:photos/cats/fluffy.jpg", "upload:photos/cats/mittens.jpg", "hide:photos/dogs/spot.jpg",
		"upload:photos/dogs/spot.jpg", "upload:photos/lilly.jpg", "start:photos/zz-large.bin"}
	if got := listed(m); !eq(got, want) {
		t.Errorf("versions: %v want %v", got, want)
	}
	m = c.must("b2_list_file_versions", map[string]any{"bucketId": bid, "prefix": "photos/", "delimiter": "/"})
	want = []string{"upload:photos/alfred.jpg", "hide:photos/alice.jpg", "upload:photos/alice.jpg",
		"folder:photos/cats/", "folder:photos/dogs/", "upload:photos/lilly.jpg", "start:photos/zz-large.bin"}
	if got := listed(m); !eq(got, want) {
		t.Errorf("versions with delimiter: %v want %v", got, want)
	}
	m = c.must("b2_list_file_names", map[string]any{"bucketId": bid, "prefix": "photos/z"})
	if len(m["files"].([]any)) != 0 {
		t.Errorf("unfinished large file listed in names: %v", listed(m))
	}
	// versions of one name: newest first, ids sort newest first
	m = c.must("b2_list_file_versions", map[string]any{"bucketId": bid, "prefix": "readme.txt"})
	fs := m["files"].([]any)
	a, b := fs[0].(map[string]any), fs[1].(map[string]any)
	if a["fileId"] != v2["fileId"] || !(a["fileId"].(string) < b["fileId"].(string)) || a["uploadTimestamp"].(float64) < b["uploadTimestamp"].(float64) {
		t.Errorf("version order %v %v", a["fileId"], b["fileId"])
	}
	// delete_file_version: hide marker removal un-hides; wrong name is file_not_present
	c.wantErr("b2_delete_file_version", map[string]any{"fileName": "photos/other.jpg", "fileId": hm["fileId"]}, 400, "file_not_present")
	c.wantErr("b2_delete_file_version", map[string]any{"fileName": "photos/alice.jpg", "fileId": "4_zmissing"}, 400, "file_not_present")
	d := c.must("b2_delete_file_version", map[string]any{"fileName": "photos/alice.jpg", "fileId": hm["fileId"]})
	if d["fileId"] != hm["fileId"] || d["fileName"] != "photos/alice.jpg" || len(d) != 2 {
		t.Errorf("delete response %v", d)
	}
	resp, body := c.download("GET", "/file/hidden-files/photos/alice.jpg", nil)
	if resp.StatusCode != 200 || string(body) != "v1" {
		t.Errorf("un-hidden download: %d %q", resp.StatusCode, body)
	}
	// deleting the newest version resurrects the previous one
	c.must("b2_delete_file_version", map[string]any{"fileName": "readme.txt", "fileId": v2["fileId"]})
	if _, body := c.download("GET", "/file/hidden-files/readme.txt", nil); string(body) != "v1" {
		t.Errorf("after deleting newest: %q", body)
	}
	// delete_file_version on an unfinished large file cancels it
	c.must("b2_delete_file_version", map[string]any{"fileName": "photos/zz-large.bin", "fileId": st["fileId"]})
	u := c.must("b2_list_unfinished_large_files", map[string]any{"bucketId": bid})
	if len(u["files"].([]any)) != 0 {
		t.Errorf("unfinished after delete: %v", u)
	}
	// a folder made only of hidden files vanishes
	c.must("b2_hide_file", map[string]any{"bucketId": bid, "fileName": "photos/cats/fluffy.jpg"})
	c.must("b2_hide_file", map[string]any{"bucketId": bid, "fileName": "photos/cats/mittens.jpg"})
	m = c.must("b2_list_file_names", map[string]any{"bucketId": bid, "prefix": "photos/", "delimiter": "/"})
	if got := listed(m); !eq(got, []string{"upload:photos/alfred.jpg", "upload:photos/alice.jpg", "upload:photos/lilly.jpg"}) {
		t.Errorf("only-hidden folders: %v", got)
	}
}

func TestListUTF8Order(t *testing.T) {
	ts := newServer(t, Options{})
	c := login(t, ts)
	bid := c.createBucket("utf8-order", "allPrivate")
	names := []string{"a", "B", "b", "Z", "é", "\uffff", "😀", "\U00010000", "a b", "a-b", "a/b", "a~", "日本"}
	for _, n := range names {
		if _, err := ts.PutFile("utf8-order", n, []byte(n), nil); err != nil {
			t.Fatal(err)
		}
	}
	sort.Strings(names) // Go sorts strings by bytes
	m := c.must("b2_list_file_names", map[string]any{"bucketId": bid})
	var got []string
	for _, f := range m["files"].([]any) {
		got = append(got, f.(map[string]any)["fileName"].(string))
	}
	if !eq(got, names) {
		t.Errorf("order %q want %q", got, names)
	}
	// U+10000 (F0 90 80 80) sorts after U+FFFF (EF BF BF) in byte order
	if !(indexOf(got, "\uffff") < indexOf(got, "\U00010000")) {
		t.Errorf("code points above U+FFFF out of byte order: %q", got)
	}
}

func indexOf(a []string, s string) int {
	for i, v := range a {
		if v == s {
			return i
		}
	}
	return -1
}

func TestListPaging(t *testing.T) {
	ts := newServer(t, Options{})
	c := login(t, ts)
	bid := c.createBucket("paging-bucket", "allPrivate")
	for _, n := range []string{"a.txt", "dir/1", "dir/2", "dir/3", "dir0", "e.txt", "f.txt"} {
		c.upload(bid, n, []byte(n))
	}
	// page size 2 with a delimiter: the folder entry ends a page
	var got []string
	start := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("too many pages")
		}
		body := map[string]any{"bucketId": bid, "delimiter": "/", "maxFileCount": 2}
		if start != "" {
			body["startFileName"] = start
		}
		m := c.must("b2_list_file_names", body)
		got = append(got, listed(m)...)
		if pages == 0 && m["nextFileName"] != "dir0" {
			t.Errorf("nextFileName after folder = %v, want dir0", m["nextFileName"])
		}
		if m["nextFileName"] == nil {
			break
		}
		start = m["nextFileName"].(string)
	}
	want := []string{"upload:a.txt", "folder:dir/", "upload:dir0", "upload:e.txt", "upload:f.txt"}
	if !eq(got, want) {
		t.Errorf("paged %v want %v", got, want)
	}
	// versions paging with nextFileId
	for i := 0; i < 3; i++ {
		c.upload(bid, "e.txt", []byte(fmt.Sprint(i)))
	}
	var vers []string
	body := map[string]any{"bucketId": bid, "maxFileCount": 3}
	for pages := 0; pages < 20; pages++ {
		m := c.must("b2_list_file_versions", body)
		for _, f := range m["files"].([]any) {
			vers = append(vers, f.(map[string]any)["fileId"].(string))
		}
		if m["nextFileName"] == nil {
			break
		}
		body = map[string]any{"bucketId": bid, "maxFileCount": 3, "startFileName": m["nextFileName"], "startFileId": m["nextFileId"]}
	}
	all := c.must("b2_list_file_versions", map[string]any{"bucketId": bid, "maxFileCount": 1000})
	var allIDs []string
	for _, f := range all["files"].([]any) {
		allIDs = append(allIDs, f.(map[string]any)["fileId"].(string))
	}
	if len(allIDs) != 10 || !eq(vers, allIDs) {
		t.Errorf("versions paging %d %v != %v", len(vers), vers, allIDs)
	}
	c.wantErr("b2_list_file_names", map[string]any{"bucketId": bid, "maxFileCount": 10001}, 400, "out_of_range")
	c.must("b2_list_file_names", map[string]any{"bucketId": bid, "maxFileCount": 10000})
	m := c.must("b2_list_file_names", map[string]any{"bucketId": bid, "maxFileCount": 0})
	if len(m["files"].([]any)) != 7 {
		t.Errorf("maxFileCount 0 = default: %v", listed(m))
	}
	c.wantErr("b2_list_file_versions", map[string]any{"bucketId": bid, "startFileName": "a", "startFileId": "bad id"}, 400, "invalid_file_id")
	c.wantErr("b2_list_file_names", map[string]any{"bucketId": "nonexistent"}, 400, "bad_bucket_id")
	// startFileName need not exist
	m = c.must("b2_list_file_names", map[string]any{"bucketId": bid, "startFileName": "dir/25"})
	if got := listed(m); len(got) == 0 || got[0] != "upload:dir/3" {
		t.Errorf("start at nonexistent name: %v", got)
	}
}

func TestListLargeDirectoryFast(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	ts := newServer(t, Options{})
	c := login(t, ts)
	bid := c.createBucket("big-listing", "allPrivate")
	small := c.createBucket("small-listing", "allPrivate")
	seedStart := time.Now()
	for i := 0; i < 50000; i++ {
		name := fmt.Sprintf("d%02d/f%05d", i%5, i)
		if i%5 == 0 {
			name = fmt.Sprintf("dir/f%05d", i)
		}
		if _, err := ts.PutFile("big-listing", name, nil, nil); err != nil {
			t.Fatal(err)
		}
		if i < 500 {
			if _, err := ts.PutFile("small-listing", name, nil, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Logf("seeding 50,000 files: %v", time.Since(seedStart))
	start := time.Now()
	m := c.must("b2_list_file_names", map[string]any{"bucketId": bid, "prefix": "dir/", "delimiter": "/", "maxFileCount": 10000})
	t.Logf("listing a 10,000-file directory: %v", time.Since(start))
	if n := len(m["files"].([]any)); n != 10000 || m["nextFileName"] != nil {
		t.Errorf("dir listing %d entries next %v", n, m["nextFileName"])
	}
	m = c.must("b2_list_file_names", map[string]any{"bucketId": bid, "delimiter": "/"})
	if got := listed(m); len(got) != 5 {
		t.Errorf("top level %v", got)
	}
	// Paging one entry at a time from deep inside a 50,000-file bucket
	// costs about what it costs in a 500-file bucket (a listing that
	// scanned the bucket would cost 100 times as much). The two are timed
	// in alternating rounds, so that the load of the machine weighs on
	// both alike.
	page := func(bucket string, i int) {
		c.must("b2_list_file_names", map[string]any{"bucketId": bucket, "startFileName": fmt.Sprintf("d03/f%05d", i*100), "maxFileCount": 1})
	}
	var big, little time.Duration
	for r := 0; r < 5; r++ {
		s := time.Now()
		for i := 0; i < 40; i++ {
			page(bid, r*40+i)
		}
		big += time.Since(s)
		s = time.Now()
		for i := 0; i < 40; i++ {
			page(small, r*40+i)
		}
		little += time.Since(s)
	}
	t.Logf("200 single-entry pages: %v in the 50,000-file bucket, %v in the 500-file bucket", big, little)
	if big > 10*little+100*time.Millisecond {
		t.Errorf("paging a 50,000-file bucket took %v, a 500-file bucket %v: listings scale with the bucket", big, little)
	}
}
