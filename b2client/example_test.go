package b2client_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"strings"
	"time"

	"github.com/b2fs/b2fs/b2client"
	"github.com/b2fs/b2fs/test/b2emu"
)

// startEmulator runs a local B2 emulator with one bucket for the examples.
func startEmulator() (url, keyID, key, bucketID string, stop func()) {
	srv, err := b2emu.New(b2emu.Options{KeyID: "example-key-id", Key: "example-secret",
		AbsoluteMinimumPartSize: 1 << 16, RecommendedPartSize: 1 << 16})
	if err != nil {
		log.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	id, err := srv.CreateBucket("example-bucket", "allPrivate")
	if err != nil {
		log.Fatal(err)
	}
	return hs.URL, "example-key-id", "example-secret", id, func() { hs.Close(); srv.Close() }
}

func ExampleNew() {
	url, keyID, key, _, stop := startEmulator()
	defer stop()

	ctx := context.Background()
	c, err := b2client.New(ctx, b2client.Config{Endpoint: url, KeyID: keyID, Key: key})
	if err != nil {
		log.Fatal(err)
	}
	b, err := c.BucketByName(ctx, "example-bucket")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(b.Name, b.Type, c.HasCapability("writeFiles"))
	// Output: example-bucket allPrivate true
}

func ExampleClient_Download() {
	url, keyID, key, bucketID, stop := startEmulator()
	defer stop()
	ctx := context.Background()
	c, err := b2client.New(ctx, b2client.Config{Endpoint: url, KeyID: keyID, Key: key})
	if err != nil {
		log.Fatal(err)
	}
	body := []byte("hello, ranged world")
	if _, err := c.UploadFile(ctx, b2client.UploadRequest{BucketID: bucketID, Name: "greeting.txt"}, bytes.NewReader(body), int64(len(body))); err != nil {
		log.Fatal(err)
	}

	// Read bytes 7..12 only.
	r, err := c.Download(ctx, b2client.DownloadRequest{BucketName: "example-bucket", Name: "greeting.txt", Offset: 7, Length: 6})
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	part, err := io.ReadAll(r)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s (file is %d bytes)\n", part, r.File.Size)
	// Output: ranged (file is 19 bytes)
}

func ExampleClient_NewWriter() {
	url, keyID, key, bucketID, stop := startEmulator()
	defer stop()
	ctx := context.Background()
	c, err := b2client.New(ctx, b2client.Config{Endpoint: url, KeyID: keyID, Key: key})
	if err != nil {
		log.Fatal(err)
	}
	w := c.NewWriter(ctx, b2client.UploadRequest{BucketID: bucketID, Name: "logs/big.log", ModTime: time.Unix(1700000000, 0)},
		b2client.LargeFileOptions{PartSize: 1 << 16, Concurrency: 2})
	// 200 KB in small writes: parts upload while the loop keeps writing.
	line := strings.Repeat("x", 99) + "\n"
	for i := 0; i < 2000; i++ {
		if _, err := io.WriteString(w, line); err != nil {
			w.Abort(err)
			log.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}
	f := w.File()
	fmt.Println(f.Name, f.Size, f.ModTime().Unix())
	// Output: logs/big.log 200000 1700000000
}

func ExampleClient_Files() {
	url, keyID, key, bucketID, stop := startEmulator()
	defer stop()
	ctx := context.Background()
	c, err := b2client.New(ctx, b2client.Config{Endpoint: url, KeyID: keyID, Key: key})
	if err != nil {
		log.Fatal(err)
	}
	for _, name := range []string{"a.txt", "dir/b.txt", "dir/sub/c.txt"} {
		if _, err := c.UploadFile(ctx, b2client.UploadRequest{BucketID: bucketID, Name: name}, strings.NewReader(name), int64(len(name))); err != nil {
			log.Fatal(err)
		}
	}
	// One directory level: folders come back as entries with Action "folder".
	for f, err := range c.Files(ctx, bucketID, b2client.ListOptions{Prefix: "dir/", Delimiter: "/"}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(f.Action, f.Name)
	}
	// Output:
	// upload dir/b.txt
	// folder dir/sub/
}

func ExampleIsNotFound() {
	url, keyID, key, _, stop := startEmulator()
	defer stop()
	ctx := context.Background()
	c, err := b2client.New(ctx, b2client.Config{Endpoint: url, KeyID: keyID, Key: key})
	if err != nil {
		log.Fatal(err)
	}
	_, err = c.Head(ctx, "example-bucket", "no/such/file")
	if b2client.IsNotFound(err) {
		fmt.Fprintln(os.Stdout, "not found")
	}
	// Output: not found
}
