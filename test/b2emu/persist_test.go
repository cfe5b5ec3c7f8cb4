package b2emu

import (
	"bytes"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// startAt runs a server over dir with a fixed key; stop closes it.
func startAt(t *testing.T, dir string) (*TestServer, func()) {
	t.Helper()
	s, err := New(Options{DataDir: dir, Key: "persist-key", AbsoluteMinimumPartSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s)
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			hs.Close()
			if err := s.Close(); err != nil {
				t.Errorf("close: %v", err)
			}
		}
	}
	t.Cleanup(stop)
	return &TestServer{Server: s, URL: hs.URL, KeyID: s.opts.KeyID, Key: s.opts.Key}, stop
}

func TestPersistenceAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	ts, stop := startAt(t, dir)
	c := login(t, ts)
	bid := c.createBucket("persist-bucket", "allPublic")
	c.must("b2_update_bucket", map[string]any{"accountId": c.accountID, "bucketId": bid, "bucketInfo": map[string]string{"a": "b"}})
	f1 := c.upload(bid, "a/one.txt", []byte("one"))
	c.upload(bid, "a/one.txt", []byte("one v2"))
	c.upload(bid, "gone.txt", []byte("gone"))
	c.must("b2_hide_file", map[string]any{"bucketId": bid, "fileName": "gone.txt"})
	del := c.upload(bid, "deleted.txt", []byte("d"))
	c.must("b2_delete_file_version", map[string]any{"fileName": "deleted.txt", "fileId": del["fileId"]})
	lf := c.must("b2_start_large_file", map[string]any{"bucketId": bid, "fileName": "large.bin", "contentType": "b2/x-auto"})
	p1, p2 := bytes.Repeat([]byte("p"), 20), []byte("end")
	pu := c.partURL(lf["fileId"].(string))
	c.uploadPart(pu, 1, p1, "")
	c.uploadPart(pu, 2, p2, "")
	c.must("b2_finish_large_file", map[string]any{"fileId": lf["fileId"], "partSha1Array": []string{sha1hex(p1), sha1hex(p2)}})
	un := c.must("b2_start_large_file", map[string]any{"bucketId": bid, "fileName": "unfinished.bin", "contentType": "b2/x-auto"})
	c.must("b2_start_large_file", map[string]any{"bucketId": bid, "fileName": "aaa-unfinished-later.bin", "contentType": "b2/x-auto"})
	c.uploadPart(c.partURL(un["fileId"].(string)), 1, p1, "")
	k := c.must("b2_create_key", map[string]any{"accountId": c.accountID, "keyName": "kept", "capabilities": []string{"listBuckets"}})
	ts.AdvanceClock(time.Hour)
	before := c.must("b2_list_file_versions", map[string]any{"bucketId": bid})
	stop()
	orphan := filepath.Join(dir, "blobs", "b-orphan")
	if err := os.WriteFile(orphan, []byte("left over"), 0o600); err != nil {
		t.Fatal(err)
	}

	ts2, _ := startAt(t, dir)
	if _, err := os.Stat(orphan); !os.IsNotExist(err) {
		t.Errorf("orphan blob kept: %v", err)
	}
	c2 := login(t, ts2)
	after := c2.must("b2_list_file_versions", map[string]any{"bucketId": bid})
	if fmt.Sprint(before["files"]) != fmt.Sprint(after["files"]) {
		t.Errorf("versions differ after restart:\n%v\n%v", before["files"], after["files"])
	}
	b := c2.must("b2_list_buckets", map[string]any{"accountId": c2.accountID})["buckets"].([]any)[0].(map[string]any)
	if b["bucketInfo"].(map[string]any)["a"] != "b" || b["revision"].(float64) != 2 || b["bucketType"] != "allPublic" {
		t.Errorf("bucket after restart %v", b)
	}
	if _, body := c2.download("GET", "/file/persist-bucket/large.bin", nil); !bytes.Equal(body, append(append([]byte{}, p1...), p2...)) {
		t.Errorf("large file body %q", body)
	}
	if _, body := c2.download("GET", "/b2api/v2/b2_download_file_by_id?fileId="+f1["fileId"].(string), nil); string(body) != "one" {
		t.Errorf("old version body %q", body)
	}
	if resp, _ := c2.download("GET", "/file/persist-bucket/gone.txt", nil); resp.StatusCode != 404 {
		t.Errorf("hidden after restart %d", resp.StatusCode)
	}
	if got := listed(c2.must("b2_list_unfinished_large_files", map[string]any{"bucketId": bid})); !eq(got, []string{"start:unfinished.bin", "start:aaa-unfinished-later.bin"}) {
		t.Errorf("unfinished order after restart: %v", got)
	}
	lp := c2.must("b2_list_parts", map[string]any{"fileId": un["fileId"]})
	if len(lp["parts"].([]any)) != 1 {
		t.Errorf("parts after restart %v", lp)
	}
	loginKey(t, ts2, k["applicationKeyId"].(string), k["applicationKey"].(string), 3)
	// new ids continue after the old ones and sort newest first
	nf := c2.upload(bid, "a/one.txt", []byte("three"))
	vs := c2.must("b2_list_file_versions", map[string]any{"bucketId": bid, "prefix": "a/one.txt"})["files"].([]any)
	if len(vs) != 3 || vs[0].(map[string]any)["fileId"] != nf["fileId"] {
		t.Errorf("new version order %v", vs)
	}
	// the clock offset survived: the new upload is at least an hour ahead
	if nf["uploadTimestamp"].(float64) < float64(time.Now().Add(59*time.Minute).UnixMilli()) {
		t.Errorf("clock offset lost: %v", nf["uploadTimestamp"])
	}
	if _, err := os.Stat(filepath.Join(dir, "journal.jsonl")); err != nil {
		t.Error(err)
	}
}

func TestPersistenceScales(t *testing.T) {
	// The cost of a put must not grow with the number of files: the
	// batches of 500 puts at the end (19,000 files and more) cost about
	// what those at the start do. And a restart with 20,000 files costs
	// about 10 times one with 2,000 (at most 40 times: a quadratic one
	// would cost 100 times). The fastest of several timings is
	// compared, so that load on the machine in one moment does not count.
	const files, small, batch = 20000, 2000, 500
	dir, smallDir := t.TempDir(), t.TempDir()
	var batches []time.Duration
	for _, d := range []string{smallDir, dir} {
		s, err := New(Options{DataDir: d, Key: "k"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateBucket("many-files", ""); err != nil {
			t.Fatal(err)
		}
		n := small
		if d == dir {
			n = files
		}
		for i := 0; i < n; i++ {
			if i%batch == 0 {
				batches = append(batches, 0)
			}
			bs := time.Now()
			if _, err := s.PutFile("many-files", fmt.Sprintf("d%d/f%06d", i%7, i), nil, map[string]string{"n": "v"}); err != nil {
				t.Fatal(err)
			}
			batches[len(batches)-1] += time.Since(bs)
		}
		s.Close()
	}
	restart := func(d string, want int) time.Duration {
		start := time.Now()
		s, err := New(Options{DataDir: d, Key: "k"})
		if err != nil {
			t.Fatal(err)
		}
		took := time.Since(start)
		defer s.Close()
		id, _ := s.BucketID("many-files")
		s.mu.Lock()
		n := s.st.buckets[id].names.len()
		s.mu.Unlock()
		if n != want {
			t.Errorf("%d names after restart, want %d", n, want)
		}
		return took
	}
	smallTook := min(restart(smallDir, small), restart(smallDir, small))
	bigTook := restart(dir, files)
	smallTook = min(smallTook, restart(smallDir, small))
	batches = batches[small/batch:] // the 20,000-file run
	first, last := slices.Min(batches[:4]), slices.Min(batches[len(batches)-4:])
	t.Logf("500 puts: %v at the start, %v after 19,000 files; restart: %v with %d files, %v with %d", first, last, bigTook, files, smallTook, small)
	if last > 5*first+50*time.Millisecond {
		t.Errorf("500 puts took %v at the start, %v after 19,000 files: a put costs more with more files", first, last)
	}
	if bigTook > 40*smallTook+time.Second {
		t.Errorf("restart took %v with %d files, %v with %d: not linear", bigTook, files, smallTook, small)
	}
}

func TestConcurrentClients(t *testing.T) {
	ts := newServer(t, Options{})
	c := login(t, ts)
	bid := c.createBucket("concurrent", "allPrivate")
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cc := login(t, ts)
			u := cc.uploadURL(bid)
			for i := 0; i < 10; i++ {
				name := fmt.Sprintf("w%d/f%d", w, i)
				if st, m := cc.uploadRaw(u, name, []byte(name), nil); st != 200 {
					t.Errorf("upload %s: %d %v", name, st, m)
					return
				}
				cc.must("b2_list_file_names", map[string]any{"bucketId": bid, "prefix": fmt.Sprintf("w%d/", w), "delimiter": "/"})
				if _, body := cc.download("GET", "/file/concurrent/"+name, nil); string(body) != name {
					t.Errorf("download %s: %q", name, body)
				}
				if i%3 == 0 {
					cc.must("b2_hide_file", map[string]any{"bucketId": bid, "fileName": name})
				}
			}
		}()
	}
	wg.Wait()
	m := c.must("b2_list_file_names", map[string]any{"bucketId": bid, "maxFileCount": 1000})
	if n := len(m["files"].([]any)); n != 8*6 {
		t.Errorf("%d visible files, want 48", n)
	}
}
