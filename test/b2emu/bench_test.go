package b2emu

import (
	"fmt"
	"testing"
)

// BenchmarkListDirectory10k lists one 10,000-entry page of a directory in
// a 50,000-file bucket over HTTP.
func BenchmarkListDirectory10k(b *testing.B) {
	ts := newServer(b, Options{})
	c := login(b, ts)
	bid := c.createBucket("bench-listing", "allPrivate")
	for i := 0; i < 50000; i++ {
		if _, err := ts.PutFile("bench-listing", fmt.Sprintf("d%d/f%06d", i%5, i), nil, nil); err != nil {
			b.Fatal(err)
		}
	}
	body := map[string]any{"bucketId": bid, "prefix": "d3/", "delimiter": "/", "maxFileCount": 10000}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.must("b2_list_file_names", body)
	}
}

// BenchmarkUploadDownload4KiB uploads and downloads a 4 KiB file.
func BenchmarkUploadDownload4KiB(b *testing.B) {
	ts := newServer(b, Options{})
	c := login(b, ts)
	bid := c.createBucket("bench-upload", "allPrivate")
	u := c.uploadURL(bid)
	body := make([]byte, 4096)
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		name := fmt.Sprintf("f%d", i)
		if st, m := c.uploadRaw(u, name, body, nil); st != 200 {
			b.Fatalf("upload %d %v", st, m)
		}
		c.download("GET", "/file/bench-upload/"+name, nil)
	}
}
