package b2client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/b2fs/b2fs/test/b2emu"
)

func TestBuckets(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	name := "made-by-client-" + randName(6)
	b, err := e.c.CreateBucket(ctx, name, "allPrivate", &CreateBucketOptions{Info: map[string]string{"k": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	if b.Name != name || b.Type != "allPrivate" || b.ID == "" || b.Info["k"] != "v" {
		t.Fatalf("created %+v", b)
	}
	got, err := e.c.BucketByName(ctx, name)
	if err != nil || got.ID != b.ID {
		t.Fatalf("BucketByName = %+v, %v", got, err)
	}
	all, err := e.c.ListBuckets(ctx, ListBucketsOptions{})
	if err != nil || len(all) != 2 {
		t.Fatalf("ListBuckets = %v, %v", all, err)
	}
	if _, err := e.c.CreateBucket(ctx, name, "allPrivate", nil); !IsDuplicateBucketName(err) {
		t.Fatalf("duplicate create: %v", err)
	}
	if err := e.c.DeleteBucket(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.BucketByName(ctx, name); !IsNotFound(err) {
		t.Fatalf("BucketByName after delete: %v, want not found", err)
	}
	e.put("x", []byte("x"))
	if err := e.c.DeleteBucket(ctx, e.bucketID); !IsBucketNotEmpty(err) {
		t.Fatalf("delete non-empty bucket: %v", err)
	}
}

func TestListing(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	names := []string{"photos/alfred.jpg", "photos/alice.jpg", "photos/cats/fluffy.jpg", "photos/cats/mittens.jpg", "photos/dogs/spot.jpg", "photos/lilly.jpg", "readme.txt"}
	for _, n := range names {
		e.put(n, []byte(n))
	}
	collect := func(seq func(func(File, error) bool)) []string {
		var out []string
		for f, err := range seq {
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, f.Action+":"+f.Name)
		}
		return out
	}
	tests := []struct {
		opts ListOptions
		want string
	}{
		{ListOptions{PageSize: 2}, "upload:photos/alfred.jpg upload:photos/alice.jpg upload:photos/cats/fluffy.jpg upload:photos/cats/mittens.jpg upload:photos/dogs/spot.jpg upload:photos/lilly.jpg upload:readme.txt"},
		{ListOptions{Delimiter: "/"}, "folder:photos/ upload:readme.txt"},
		{ListOptions{Prefix: "photos/", Delimiter: "/", PageSize: 1}, "upload:photos/alfred.jpg upload:photos/alice.jpg folder:photos/cats/ folder:photos/dogs/ upload:photos/lilly.jpg"},
		{ListOptions{Prefix: "photos/c"}, "upload:photos/cats/fluffy.jpg upload:photos/cats/mittens.jpg"},
	}
	for _, tt := range tests {
		got := strings.Join(collect(e.c.Files(ctx, e.bucketID, tt.opts)), " ")
		if got != tt.want {
			t.Errorf("Files(%+v) =\n %s\nwant\n %s", tt.opts, got, tt.want)
		}
	}
	// Pages were really used: 7 names in pages of 2 is 4 calls.
	e.ts.ResetStats()
	collect(e.c.Files(ctx, e.bucketID, ListOptions{PageSize: 2}))
	if n := e.calls("b2_list_file_names"); n != 4 {
		t.Errorf("list calls for 7 names in pages of 2 = %d, want 4", n)
	}
	// Breaking out of the loop stops paging.
	e.ts.ResetStats()
	for range e.c.Files(ctx, e.bucketID, ListOptions{PageSize: 2}) {
		break
	}
	if n := e.calls("b2_list_file_names"); n != 1 {
		t.Errorf("list calls after break = %d, want 1", n)
	}

	// Hide and versions.
	h, err := e.c.HideFile(ctx, e.bucketID, "readme.txt")
	if err != nil || h.Action != ActionHide {
		t.Fatalf("HideFile = %+v, %v", h, err)
	}
	if _, err := e.c.HideFile(ctx, e.bucketID, "readme.txt"); !IsAlreadyHidden(err) {
		t.Fatalf("second hide: %v", err)
	}
	got := collect(e.c.FileVersions(ctx, e.bucketID, ListOptions{Prefix: "readme", PageSize: 1}))
	if strings.Join(got, " ") != "hide:readme.txt upload:readme.txt" {
		t.Fatalf("versions = %v", got)
	}
	if got := collect(e.c.Files(ctx, e.bucketID, ListOptions{Prefix: "readme"})); len(got) != 0 {
		t.Fatalf("hidden file listed: %v", got)
	}
	// Deleting the hide marker brings the file back.
	if err := e.c.DeleteFileVersion(ctx, "readme.txt", h.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.c.DeleteFileVersion(ctx, "readme.txt", h.ID); !IsNotFound(err) {
		t.Fatalf("deleting twice: %v, want not found", err)
	}
	if got := collect(e.c.Files(ctx, e.bucketID, ListOptions{Prefix: "readme"})); len(got) != 1 {
		t.Fatalf("after unhide: %v", got)
	}
	// The iterator stops at the first error.
	var errs int
	for _, err := range e.c.Files(ctx, "no-such-bucket-id", ListOptions{}) {
		if err == nil {
			t.Fatal("listing an unknown bucket yielded a file")
		}
		errs++
	}
	if errs != 1 {
		t.Fatalf("errors yielded = %d", errs)
	}
	if _, err := e.c.ListFileNames(ctx, e.bucketID, ListOptions{PageSize: 10001}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("page size 10001: %v", err)
	}
}

func TestUploadDownloadSmall(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	body := randBytes(10_000, 3)
	mod := time.UnixMilli(1705313690123)
	name := "dir/a+b c%d #1?.txt"
	f, err := e.c.UploadFile(ctx, UploadRequest{
		BucketID: e.bucketID, Name: name, ContentType: "text/plain",
		Info: map[string]string{"Author": "Zoë & co+"}, ModTime: mod,
	}, bytesReaderAt(body), int64(len(body)))
	if err != nil {
		t.Fatal(err)
	}
	if f.Name != name || f.Size != 10_000 || f.SHA1 != sha1Hex(body) || f.Action != ActionUpload || f.ContentType != "text/plain" {
		t.Fatalf("uploaded %+v", f)
	}
	if f.Info["author"] != "Zoë & co+" || !f.ModTime().Equal(mod) {
		t.Fatalf("info %v, mtime %v", f.Info, f.ModTime())
	}
	got, r := e.download(DownloadRequest{BucketName: e.bucketName, Name: name})
	mustEqualBytes(t, "download by name", got, body)
	if r.File.ID != f.ID || r.File.Name != name || r.File.Size != 10_000 || r.File.Info["author"] != "Zoë & co+" || !r.File.ModTime().Equal(mod) {
		t.Fatalf("download metadata %+v", r.File)
	}
	got, _ = e.download(DownloadRequest{FileID: f.ID})
	mustEqualBytes(t, "download by id", got, body)

	h, err := e.c.Head(ctx, e.bucketName, name)
	if err != nil || h.ID != f.ID || h.Size != 10_000 || h.SHA1 != f.SHA1 || h.Info["author"] != "Zoë & co+" {
		t.Fatalf("Head = %+v, %v", h, err)
	}
	if _, err := e.c.Head(ctx, e.bucketName, "missing"); !IsNotFound(err) {
		t.Fatalf("Head missing: %v", err)
	}
	gi, err := e.c.GetFileInfo(ctx, f.ID)
	if err != nil || gi.Name != name || gi.Size != 10_000 {
		t.Fatalf("GetFileInfo = %+v, %v", gi, err)
	}
	if _, err := e.c.Download(ctx, DownloadRequest{BucketName: e.bucketName, Name: "missing"}); !IsNotFound(err) {
		t.Fatalf("download missing: %v", err)
	}
	// Given SHA-1 is sent as is; a wrong one is refused by B2.
	if _, err := e.c.UploadFile(ctx, UploadRequest{BucketID: e.bucketID, Name: "w", SHA1: sha1Hex([]byte("other"))}, bytesReaderAt(body), int64(len(body))); err == nil {
		t.Fatal("upload with a wrong SHA-1 succeeded")
	}
	// Bad input never reaches the network.
	e.ts.ResetStats()
	for _, req := range []UploadRequest{
		{BucketID: e.bucketID, Name: "bad\x01name"},
		{BucketID: e.bucketID, Name: "x", Info: map[string]string{"bad key": "v"}},
		{BucketID: e.bucketID, Name: "x", SHA1: "nothex"},
	} {
		if _, err := e.c.UploadFile(ctx, req, bytesReaderAt(nil), 0); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("UploadFile(%+v) = %v, want ErrInvalidArgument", req, err)
		}
	}
	if n := e.ts.Stats().Classes["A"]; n != 0 {
		t.Errorf("invalid uploads made %d calls", n)
	}
}

func TestDownloadRanges(t *testing.T) {
	e := newEnv(t, envOptions{})
	body := randBytes(1000, 4)
	e.put("f", body)
	e.put("empty", nil)
	tests := []struct {
		off, n    int64
		want      []byte
		wantRange string
	}{
		{0, 0, body, ""},
		{0, -1, body, ""},
		{0, 1000, body, "bytes=0-999"},  // whole file: B2 answers 200
		{0, 5000, body, "bytes=0-4999"}, // past the end: clamped
		{10, 0, body[10:], "bytes=10-"},
		{10, 20, body[10:30], "bytes=10-29"},
		{999, 1, body[999:], "bytes=999-999"},
		{990, 100, body[990:], "bytes=990-1089"},
	}
	for _, tt := range tests {
		e.rec.reset()
		got, r := e.download(DownloadRequest{BucketName: e.bucketName, Name: "f", Offset: tt.off, Length: tt.n})
		mustEqualBytes(t, fmt.Sprintf("range %d+%d", tt.off, tt.n), got, tt.want)
		if r.File.Size != 1000 || r.Offset != tt.off || r.Length != int64(len(tt.want)) {
			t.Errorf("range %d+%d: Size %d Offset %d Length %d", tt.off, tt.n, r.File.Size, r.Offset, r.Length)
		}
		if reqs := e.rec.matching("/file/"); len(reqs) != 1 || reqs[0].rangeHdr != tt.wantRange {
			t.Errorf("range %d+%d: requests %+v, want Range %q", tt.off, tt.n, reqs, tt.wantRange)
		}
	}
	for _, off := range []int64{1000, 5000} {
		if _, err := e.c.Download(context.Background(), DownloadRequest{BucketName: e.bucketName, Name: "f", Offset: off}); !IsRangeNotSatisfiable(err) {
			t.Errorf("offset %d: %v, want 416", off, err)
		}
	}
	// A 0-byte file is read without a Range header; any offset is a 416.
	e.rec.reset()
	got, r := e.download(DownloadRequest{BucketName: e.bucketName, Name: "empty"})
	if len(got) != 0 || r.File.Size != 0 {
		t.Fatalf("empty: %d bytes, size %d", len(got), r.File.Size)
	}
	if reqs := e.rec.matching("/file/"); len(reqs) != 1 || reqs[0].rangeHdr != "" {
		t.Errorf("empty file requests %+v", reqs)
	}
	if _, err := e.c.Download(context.Background(), DownloadRequest{BucketName: e.bucketName, Name: "empty", Offset: 0, Length: 1}); !IsRangeNotSatisfiable(err) {
		t.Errorf("empty file with a range: %v, want 416", err)
	}
	if _, err := e.c.Download(context.Background(), DownloadRequest{BucketName: e.bucketName, Name: "f", Offset: -1}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("negative offset: %v", err)
	}
}

// TestDownloadResume cuts a body mid-download: the reader resumes from the
// last byte received with a ranged request on the file ID.
func TestDownloadResume(t *testing.T) {
	e := newEnv(t, envOptions{})
	body := randBytes(300_000, 5)
	e.put("big", body)
	tests := []struct {
		name      string
		req       DownloadRequest
		want      []byte
		cut       int64
		wantRange string
	}{
		{"whole", DownloadRequest{BucketName: e.bucketName, Name: "big"}, body, 100_000, "bytes=100000-299999"},
		{"ranged", DownloadRequest{BucketName: e.bucketName, Name: "big", Offset: 1000, Length: 200_000}, body[1000:201_000], 50_000, "bytes=51000-200999"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.ts.ClearFaults()
			e.ts.AddFault(b2emu.FaultRule{API: "b2_download_file_by_name", Action: "reset", ResetAfterBytes: tt.cut})
			e.rec.reset()
			e.ts.ResetStats()
			got, _ := e.download(tt.req)
			mustEqualBytes(t, "resumed download", got, tt.want)
			if sha1Hex(got) != sha1Hex(tt.want) {
				t.Fatal("sha1 differs")
			}
			resumed := e.rec.matching("b2_download_file_by_id")
			if len(resumed) != 1 || resumed[0].rangeHdr != tt.wantRange {
				t.Fatalf("resume requests %+v, want one with Range %q", resumed, tt.wantRange)
			}
			if n := e.calls("b2_download_file_by_name"); n != 1 {
				t.Errorf("by-name calls = %d, want 1 (no restart from 0)", n)
			}
		})
	}
	t.Run("gives up", func(t *testing.T) {
		e.ts.ClearFaults()
		e.ts.AddFault(b2emu.FaultRule{API: "*", Action: "reset", ResetAfterBytes: 0, Times: -1, Skip: 0})
		_, err := e.c.Download(context.Background(), DownloadRequest{BucketName: e.bucketName, Name: "big"})
		if err == nil {
			r, _ := e.c.Download(context.Background(), DownloadRequest{BucketName: e.bucketName, Name: "big"})
			if r != nil {
				_, err = io.ReadAll(r)
				r.Close()
			}
		}
		if err == nil {
			t.Fatal("download through a connection that always breaks succeeded")
		}
		e.ts.ClearFaults()
	})
}

func TestChecksumVerifiedOnWholeDownload(t *testing.T) {
	e := newEnv(t, envOptions{})
	body := randBytes(5000, 6)
	e.put("f", body)
	r, err := e.c.Download(context.Background(), DownloadRequest{BucketName: e.bucketName, Name: "f"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.impl.hash == nil {
		t.Fatal("whole-file download does not verify its SHA-1")
	}
	r.impl.wantSHA = sha1Hex([]byte("something else")) // as if the bytes were corrupted in transit
	if _, err := io.ReadAll(r); !errors.Is(err, ErrChecksumMismatch) {
		t.Fatalf("read = %v, want ErrChecksumMismatch", err)
	}
}

func TestUploadLargeFile(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	size := int64(5*testPartSize + 123)
	body := randBytes(int(size), 8)
	f, err := e.c.UploadLargeFile(ctx, UploadRequest{BucketID: e.bucketID, Name: "large.bin", ModTime: time.UnixMilli(42000)},
		bytesReaderAt(body), size, LargeFileOptions{PartSize: testPartSize, Concurrency: 3})
	if err != nil {
		t.Fatal(err)
	}
	if f.Size != size || f.SHA1 != "none" || f.Info[InfoLargeFileSHA1] != sha1Hex(body) || f.ContentSHA1() != sha1Hex(body) {
		t.Fatalf("large file %+v", f)
	}
	if n := e.calls("b2_upload_part"); n != 6 {
		t.Errorf("parts = %d, want 6", n)
	}
	if n := e.c.pools.size("f:" + f.ID); n != 0 {
		t.Errorf("%d part URLs kept after finish", n)
	}
	if n := e.calls("b2_start_large_file") + e.calls("b2_finish_large_file"); n != 2 {
		t.Errorf("start+finish = %d", n)
	}
	got, r := e.download(DownloadRequest{BucketName: e.bucketName, Name: "large.bin"})
	mustEqualBytes(t, "large download", got, body)
	if r.impl != nil && r.File.ContentSHA1() != sha1Hex(body) {
		t.Errorf("download ContentSHA1 = %q", r.File.ContentSHA1())
	}
	if !r.File.ModTime().Equal(time.UnixMilli(42000)) {
		t.Errorf("mtime %v", r.File.ModTime())
	}
	// A body that fits in one part is a simple upload.
	e.ts.ResetStats()
	small := body[:testPartSize]
	f, err = e.c.UploadLargeFile(ctx, UploadRequest{BucketID: e.bucketID, Name: "small.bin"}, bytesReaderAt(small), int64(len(small)), LargeFileOptions{PartSize: testPartSize})
	if err != nil || f.SHA1 != sha1Hex(small) {
		t.Fatalf("small via UploadLargeFile: %+v, %v", f, err)
	}
	if n := e.calls("b2_start_large_file"); n != 0 {
		t.Errorf("one-part body started a large file")
	}
	// Part uploads retry on their own with a fresh part URL.
	e.ts.ResetStats()
	e.ts.AddFault(b2emu.FaultRule{API: "b2_upload_part", Skip: 2, Times: 2, Status: 503})
	e.ts.AddFault(b2emu.FaultRule{API: "b2_upload_part", Skip: 3, Times: 1, Action: "reset", ResetAfterBytes: 1000})
	f, err = e.c.UploadLargeFile(ctx, UploadRequest{BucketID: e.bucketID, Name: "retried.bin"}, bytesReaderAt(body), size, LargeFileOptions{PartSize: testPartSize, Concurrency: 2})
	if err != nil {
		t.Fatal(err)
	}
	got, _ = e.download(DownloadRequest{FileID: f.ID})
	mustEqualBytes(t, "retried large download", got, body)
	if n := e.calls("b2_upload_part"); n < 8 {
		t.Errorf("part calls = %d, want ≥ 8 (6 parts + failures)", n)
	}
	if len(e.unfinished()) != 0 {
		t.Error("unfinished large files left")
	}
}

// TestReauthDuringLargeUpload expires every account token after the first
// part while workers run, and makes several part uploads fail with expired
// tokens at once: exactly one re-authorization happens.
func TestReauthDuringLargeUpload(t *testing.T) {
	var once sync.Once
	var e *env
	e = newEnv(t, envOptions{config: func(c *Config) {
		c.Observer = func(ev RequestEvent) {
			if ev.API == "b2_upload_part" && ev.Status == 200 {
				once.Do(func() {
					e.ts.ExpireTokens()
					e.ts.AddFault(b2emu.FaultRule{API: "b2_upload_part", Status: 401, Code: "expired_auth_token", Times: 4})
				})
			}
		}
	}})
	size := int64(12*testPartSize + 7)
	body := randBytes(int(size), 9)
	f, err := e.c.UploadLargeFile(context.Background(), UploadRequest{BucketID: e.bucketID, Name: "reauth.bin"}, bytesReaderAt(body), size, LargeFileOptions{PartSize: testPartSize, Concurrency: 4})
	if err != nil {
		t.Fatal(err)
	}
	if n := e.calls("b2_authorize_account"); n != 1 {
		t.Fatalf("re-authorizations = %d, want exactly 1", n)
	}
	if n := e.calls("b2_get_upload_part_url"); n < 5 {
		t.Errorf("part URL fetches = %d, want ≥ 5 (4 initial + replacements)", n)
	}
	got, _ := e.download(DownloadRequest{FileID: f.ID})
	mustEqualBytes(t, "large file after re-auth", got, body)
}

// TestLargeUploadCancel cancels the context after the first part: the upload
// fails and the large file is cancelled in B2.
func TestLargeUploadCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := newEnv(t, envOptions{config: func(c *Config) {
		c.Observer = func(ev RequestEvent) {
			if ev.API == "b2_upload_part" {
				cancel()
			}
		}
	}})
	size := int64(10 * testPartSize)
	body := randBytes(int(size), 10)
	_, err := e.c.UploadLargeFile(ctx, UploadRequest{BucketID: e.bucketID, Name: "cancelled.bin"}, bytesReaderAt(body), size, LargeFileOptions{PartSize: testPartSize, Concurrency: 2})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if n := e.calls("b2_cancel_large_file"); n != 1 {
		t.Errorf("cancel calls = %d, want 1", n)
	}
	if u := e.unfinished(); len(u) != 0 {
		t.Fatalf("unfinished large files left: %+v", u)
	}
	if n := e.calls("b2_upload_part"); n >= 10 {
		t.Errorf("all %d parts were uploaded despite the cancel", n)
	}
}

func TestFinishAmbiguousFailure(t *testing.T) {
	e := newEnv(t, envOptions{})
	// The finish succeeds on the server but the answer is lost.
	e.ts.AddFault(b2emu.FaultRule{API: "b2_finish_large_file", Action: "reset"})
	size := int64(3 * testPartSize)
	body := randBytes(int(size), 11)
	f, err := e.c.UploadLargeFile(context.Background(), UploadRequest{BucketID: e.bucketID, Name: "ambiguous.bin"}, bytesReaderAt(body), size, LargeFileOptions{PartSize: testPartSize})
	if err != nil {
		t.Fatal(err)
	}
	if f.Action != ActionUpload || f.Size != size {
		t.Fatalf("file %+v", f)
	}
	got, _ := e.download(DownloadRequest{FileID: f.ID})
	mustEqualBytes(t, "download", got, body)
}

func TestUploadStream(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	body := randBytes(70_000, 12)
	f, err := e.c.UploadStream(ctx, UploadRequest{BucketID: e.bucketID, Name: "stream"}, io.MultiReader(bytes.NewReader(body)), int64(len(body)))
	if err != nil {
		t.Fatal(err)
	}
	if f.SHA1 != sha1Hex(body) || f.Size != 70_000 {
		t.Fatalf("stream upload %+v", f)
	}
	got, _ := e.download(DownloadRequest{FileID: f.ID})
	mustEqualBytes(t, "stream download", got, body)

	// A failure before any byte was read (here: getting the upload URL) is
	// retried.
	e2 := newEnv(t, envOptions{})
	e2.ts.AddFault(b2emu.FaultRule{API: "b2_get_upload_url", Status: 503})
	if _, err := e2.c.UploadStream(ctx, UploadRequest{BucketID: e2.bucketID, Name: "s"}, bytes.NewReader(body), int64(len(body))); err != nil {
		t.Fatalf("stream upload after a get_upload_url 503: %v", err)
	}
	if n := e2.calls("b2_get_upload_url"); n != 2 {
		t.Errorf("get_upload_url calls = %d, want 2", n)
	}
	// A failure after bytes were sent is not retried.
	e.ts.ClearFaults()
	e.ts.ResetStats()
	e.ts.AddFault(b2emu.FaultRule{API: "b2_upload_file", Action: "reset", ResetAfterBytes: 30_000})
	if _, err := e.c.UploadStream(ctx, UploadRequest{BucketID: e.bucketID, Name: "s2"}, bytes.NewReader(body), int64(len(body))); err == nil {
		t.Fatal("stream upload through a reset succeeded")
	}
	if n := e.calls("b2_upload_file"); n != 1 {
		t.Errorf("upload calls = %d, want 1 (stream cannot be replayed)", n)
	}
	// A short source is an error, not a truncated file.
	if _, err := e.c.UploadStream(ctx, UploadRequest{BucketID: e.bucketID, Name: "short"}, bytes.NewReader(body[:10]), 100); err == nil {
		t.Fatal("short stream succeeded")
	}
}

func TestWriter(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	for _, size := range []int{0, 1000, testPartSize, testPartSize + 1, 3 * testPartSize, 4*testPartSize + 999} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			e.ts.ResetStats()
			body := randBytes(size, uint64(size))
			w := e.c.NewWriter(ctx, UploadRequest{BucketID: e.bucketID, Name: fmt.Sprint("w/", size)}, LargeFileOptions{PartSize: testPartSize, Concurrency: 2})
			// Odd-sized writes cross part boundaries.
			for rest := body; len(rest) > 0; {
				n := min(len(rest), 7777)
				if m, err := w.Write(rest[:n]); err != nil || m != n {
					t.Fatalf("Write = %d, %v", m, err)
				}
				rest = rest[n:]
			}
			if w.File() != nil {
				t.Fatal("File before Close")
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			f := w.File()
			if f == nil || f.Size != int64(size) {
				t.Fatalf("File = %+v", f)
			}
			got, _ := e.download(DownloadRequest{FileID: f.ID})
			mustEqualBytes(t, "writer download", got, body)
			large := size > testPartSize
			if n := e.calls("b2_start_large_file"); (n == 1) != large {
				t.Errorf("start_large_file calls = %d for %d bytes", n, size)
			}
			if _, err := w.Write([]byte("x")); err == nil {
				t.Error("Write after Close succeeded")
			}
		})
	}
	if n := e.c.partBufBytes.Load(); n != 0 {
		t.Errorf("part buffers still accounted: %d bytes", n)
	}
	if len(e.unfinished()) != 0 {
		t.Error("unfinished large files left")
	}
}

func TestWriterFailureCancelsLargeFile(t *testing.T) {
	t.Run("context", func(t *testing.T) {
		e := newEnv(t, envOptions{})
		ctx, cancel := context.WithCancel(context.Background())
		w := e.c.NewWriter(ctx, UploadRequest{BucketID: e.bucketID, Name: "wc"}, LargeFileOptions{PartSize: testPartSize, Concurrency: 2})
		if _, err := w.Write(randBytes(3*testPartSize, 1)); err != nil {
			t.Fatal(err)
		}
		cancel()
		if _, err := w.Write(make([]byte, 2*testPartSize)); err == nil {
			if err := w.Close(); err == nil {
				t.Fatal("writer survived its context")
			}
		}
		if u := e.unfinished(); len(u) != 0 {
			t.Fatalf("unfinished: %+v", u)
		}
		if w.File() != nil {
			t.Fatal("File after failure")
		}
	})
	t.Run("part fails", func(t *testing.T) {
		e := newEnv(t, envOptions{})
		e.ts.AddFault(b2emu.FaultRule{API: "b2_upload_part", Status: 400, Code: "bad_request", Times: -1})
		w := e.c.NewWriter(context.Background(), UploadRequest{BucketID: e.bucketID, Name: "wf"}, LargeFileOptions{PartSize: testPartSize, Concurrency: 2})
		var err error
		for i := 0; i < 10 && err == nil; i++ {
			_, err = w.Write(make([]byte, testPartSize))
		}
		if err == nil {
			err = w.Close()
		}
		if be := asError(err); be == nil || be.Status != 400 {
			t.Fatalf("err = %v, want the part's 400", err)
		}
		if u := e.unfinished(); len(u) != 0 {
			t.Fatalf("unfinished: %+v", u)
		}
	})
	t.Run("abort", func(t *testing.T) {
		e := newEnv(t, envOptions{})
		w := e.c.NewWriter(context.Background(), UploadRequest{BucketID: e.bucketID, Name: "wa"}, LargeFileOptions{PartSize: testPartSize, Concurrency: 2})
		if _, err := w.Write(make([]byte, 3*testPartSize)); err != nil {
			t.Fatal(err)
		}
		boom := errors.New("boom")
		w.Abort(boom)
		if err := w.Close(); !errors.Is(err, boom) {
			t.Fatalf("Close after Abort = %v", err)
		}
		if u := e.unfinished(); len(u) != 0 {
			t.Fatalf("unfinished: %+v", u)
		}
		if _, err := e.c.Head(context.Background(), e.bucketName, "wa"); !IsNotFound(err) {
			t.Fatalf("aborted file exists: %v", err)
		}
	})
}

func TestCopyFile(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	body := randBytes(3*testPartSize+17, 13)
	src, err := e.c.UploadFile(ctx, UploadRequest{BucketID: e.bucketID, Name: "src.txt", ContentType: "text/plain", Info: map[string]string{"k": "v"}}, bytesReaderAt(body), int64(len(body)))
	if err != nil {
		t.Fatal(err)
	}
	size := int64(len(body))
	tests := []struct {
		name string
		req  CopyRequest
		want []byte
		// large: expect b2_copy_part.
		large    bool
		wantType string
		wantInfo map[string]string
	}{
		{"copy metadata", CopyRequest{SourceID: src.ID, SourceSize: size, DestName: "c1"}, body, false, "text/plain", map[string]string{"k": "v"}},
		{"replace metadata", CopyRequest{SourceID: src.ID, SourceSize: size, DestName: "c2", ReplaceMetadata: true, ContentType: "application/x-new", Info: map[string]string{"n": "1"}}, body, false, "application/x-new", map[string]string{"n": "1"}},
		{"range", CopyRequest{SourceID: src.ID, SourceSize: size, DestName: "c3", Offset: 100, Length: 1000}, body[100:1100], false, "text/plain", nil},
		{"large", CopyRequest{SourceID: src.ID, SourceSize: size, DestName: "c4", Threshold: testPartSize, PartSize: testPartSize, Concurrency: 2}, body, true, "text/plain", map[string]string{"k": "v"}},
		{"large range", CopyRequest{SourceID: src.ID, SourceSize: size, DestName: "c5", Offset: 5, Length: 2*testPartSize + 3, Threshold: testPartSize, PartSize: testPartSize}, body[5 : 5+2*testPartSize+3], true, "text/plain", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.ts.ResetStats()
			f, err := e.c.CopyFile(ctx, tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if f.Size != int64(len(tt.want)) || f.Name != tt.req.DestName {
				t.Fatalf("copy %+v", f)
			}
			if parts := e.calls("b2_copy_part"); (parts > 0) != tt.large {
				t.Errorf("copy_part calls = %d, large = %v", parts, tt.large)
			}
			got, r := e.download(DownloadRequest{BucketName: e.bucketName, Name: tt.req.DestName})
			mustEqualBytes(t, "copy", got, tt.want)
			if r.File.ContentType != tt.wantType {
				t.Errorf("content type %q, want %q", r.File.ContentType, tt.wantType)
			}
			for k, v := range tt.wantInfo {
				if r.File.Info[k] != v {
					t.Errorf("info %v, want %v", r.File.Info, tt.wantInfo)
				}
			}
		})
	}
	if len(e.unfinished()) != 0 {
		t.Error("unfinished large files left")
	}
}

// TestCopyUnknownSizeTooLarge copies a source over the server's copy limit
// without telling its size: b2_copy_file answers source_too_large and the
// copy goes through b2_copy_part.
func TestCopyUnknownSizeTooLarge(t *testing.T) {
	e := newEnv(t, envOptions{emu: b2emu.Options{MaxFileSize: 2 * testPartSize}})
	ctx := context.Background()
	size := int64(3*testPartSize + 5)
	body := randBytes(int(size), 14)
	src, err := e.c.UploadLargeFile(ctx, UploadRequest{BucketID: e.bucketID, Name: "big-src"}, bytesReaderAt(body), size, LargeFileOptions{PartSize: testPartSize})
	if err != nil {
		t.Fatal(err)
	}
	e.ts.ResetStats()
	f, err := e.c.CopyFile(ctx, CopyRequest{SourceID: src.ID, DestName: "big-dst", PartSize: testPartSize})
	if err != nil {
		t.Fatal(err)
	}
	if n := e.calls("b2_copy_file"); n != 1 {
		t.Errorf("copy_file calls = %d", n)
	}
	if n := e.calls("b2_copy_part"); n != 4 {
		t.Errorf("copy_part calls = %d, want 4", n)
	}
	got, r := e.download(DownloadRequest{FileID: f.ID})
	mustEqualBytes(t, "copied", got, body)
	if r.File.ContentSHA1() != sha1Hex(body) {
		t.Errorf("copy lost large_file_sha1: %v", r.File.Info)
	}
}
