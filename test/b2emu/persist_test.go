package b2emu

import (
	"bytes"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
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

// TestJournalKeptWhenCompact restarts a store whose journal holds only
// what its state needs (it is appended to as it is, not rewritten) and
// stores whose journal does not (a hidden file's superseded version, a
// torn last line, a last line without its newline): those are rewritten,
// and every restart keeps what was stored.
func TestJournalKeptWhenCompact(t *testing.T) {
	dir := t.TempDir()
	jpath := filepath.Join(dir, "journal.jsonl")
	inode := func() uint64 {
		t.Helper()
		st, err := os.Stat(jpath)
		if err != nil {
			t.Fatal(err)
		}
		return st.Sys().(*syscall.Stat_t).Ino
	}
	names := func(c *client, bid string) []string {
		var out []string
		for _, f := range c.must("b2_list_file_names", map[string]any{"bucketId": bid})["files"].([]any) {
			out = append(out, f.(map[string]any)["fileName"].(string))
		}
		return out
	}
	ts, stop := startAt(t, dir)
	c := login(t, ts)
	bid := c.createBucket("compact-bucket", "allPrivate")
	for _, n := range []string{"a", "b", "c"} {
		c.upload(bid, n, []byte(n))
	}
	stop()
	// A fresh journal is a snapshot: the restart keeps the file.
	ino := inode()
	ts, stop = startAt(t, dir)
	if got := inode(); got != ino {
		t.Errorf("compact journal rewritten on restart (inode %d, was %d)", got, ino)
	}
	c = login(t, ts)
	c.upload(bid, "d", []byte("d"))
	stop()
	ts, stop = startAt(t, dir)
	if got := inode(); got != ino {
		t.Errorf("journal with an appended upload rewritten (inode %d, was %d)", got, ino)
	}
	c = login(t, ts)
	if got := names(c, bid); !slices.Equal(got, []string{"a", "b", "c", "d"}) {
		t.Errorf("after appending to a kept journal: %v", got)
	}
	c.must("b2_hide_file", map[string]any{"bucketId": bid, "fileName": "a"})
	stop()
	// A hide marker supersedes nothing: still compact.
	ts, stop = startAt(t, dir)
	c = login(t, ts)
	vs := c.must("b2_list_file_versions", map[string]any{"bucketId": bid, "prefix": "b"})["files"].([]any)
	c.must("b2_delete_file_version", map[string]any{"fileName": "b", "fileId": vs[0].(map[string]any)["fileId"]})
	stop()
	// A deletion leaves a record the state no longer needs: rewritten.
	ino = inode()
	ts, stop = startAt(t, dir)
	if got := inode(); got == ino {
		t.Error("journal with a deletion not compacted on restart")
	}
	c = login(t, ts)
	if got := names(c, bid); !slices.Equal(got, []string{"c", "d"}) {
		t.Errorf("after a hide and a deletion: %v", got)
	}
	stop()
	for _, tail := range []string{`{"t":"file","f":{"id":"4_z`, "unterminated"} {
		b, err := os.ReadFile(jpath)
		if err != nil {
			t.Fatal(err)
		}
		if tail == "unterminated" {
			b = bytes.TrimSuffix(b, []byte("\n")) // the last record is complete, its newline is not
		} else {
			b = append(b, tail...)
		}
		if err := os.WriteFile(jpath, b, 0o600); err != nil {
			t.Fatal(err)
		}
		ino = inode()
		ts, stop = startAt(t, dir)
		if got := inode(); got == ino {
			t.Errorf("journal ending in %q not rewritten", tail)
		}
		c = login(t, ts)
		c.upload(bid, "e-"+tail[:3], []byte("e"))
		stop()
		ts, stop = startAt(t, dir)
		c = login(t, ts)
		got := names(c, bid)
		if len(got) < 3 || !slices.Equal(got[:2], []string{"c", "d"}) || !slices.Contains(got, "e-"+tail[:3]) {
			t.Errorf("after a journal ending in %q and an upload: %v", tail, got)
		}
		stop()
	}
}
