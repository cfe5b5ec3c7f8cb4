package b2client

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/b2fs/b2fs/test/b2emu"
)

// createKey makes an application key through the emulator's b2_create_key
// with the master key's session.
func (e *env) createKey(in map[string]any) (id, secret string) {
	e.t.Helper()
	in["accountId"] = e.c.Account().AccountID
	var out struct {
		ApplicationKeyID string `json:"applicationKeyId"`
		ApplicationKey   string `json:"applicationKey"`
	}
	if err := e.c.apiCall(context.Background(), "b2_create_key", in, &out); err != nil {
		e.t.Fatalf("create key: %v", err)
	}
	return out.ApplicationKeyID, out.ApplicationKey
}

func TestRestrictedKey(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	if _, err := e.c.CreateBucket(ctx, "other-bucket-"+randName(6), "allPrivate", nil); err != nil {
		t.Fatal(err)
	}
	e.put("dir/a", []byte("a"))
	e.put("out", []byte("o"))
	id, secret := e.createKey(map[string]any{
		"keyName":                "restricted",
		"capabilities":           []string{"listBuckets", "listFiles", "readFiles", "writeFiles"},
		"bucketId":               e.bucketID,
		"namePrefix":             "dir/",
		"validDurationInSeconds": 3600,
	})
	rc, err := New(ctx, Config{Endpoint: e.ts.URL, KeyID: id, Key: secret, MinBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	a := rc.Account()
	if a.BucketID != e.bucketID || a.BucketName != e.bucketName || a.NamePrefix != "dir/" {
		t.Fatalf("restrictions = %q %q %q", a.BucketID, a.BucketName, a.NamePrefix)
	}
	if a.AccountID != e.c.Account().AccountID || a.AccountID == id {
		t.Fatalf("AccountID = %q (key id %q)", a.AccountID, id)
	}
	if until := time.Until(a.KeyExpiration); until < 50*time.Minute || until > 61*time.Minute {
		t.Fatalf("KeyExpiration = %v", a.KeyExpiration)
	}
	if rc.HasCapability("deleteFiles") || !rc.HasCapability("listFiles") {
		t.Fatalf("capabilities = %v", a.Capabilities)
	}
	// The allowed bucket is named automatically.
	bs, err := rc.ListBuckets(ctx, ListBucketsOptions{})
	if err != nil || len(bs) != 1 || bs[0].ID != e.bucketID {
		t.Fatalf("ListBuckets = %+v, %v", bs, err)
	}
	p, err := rc.ListFileNames(ctx, e.bucketID, ListOptions{Prefix: "dir/"})
	if err != nil || len(p.Files) != 1 {
		t.Fatalf("list inside the prefix = %+v, %v", p, err)
	}
	if _, err := rc.ListFileNames(ctx, e.bucketID, ListOptions{}); !IsUnauthorized(err) {
		t.Fatalf("list outside the prefix: %v, want unauthorized", err)
	}
	if _, err := rc.Download(ctx, DownloadRequest{BucketName: e.bucketName, Name: "out"}); !IsUnauthorized(err) {
		t.Fatalf("download outside the prefix: %v, want unauthorized", err)
	}
}

func TestListGroups(t *testing.T) {
	e := newEnv(t, envOptions{emu: b2emu.Options{Partner: true}})
	if e.c.Account().GroupsAPIURL == "" {
		t.Fatal("no groupsApiUrl for a Partner account")
	}
	ctx := context.Background()
	gs, err := e.c.ListGroups(ctx, e.c.Account().AccountID, ListGroupsOptions{PageSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(gs) != 3 || gs[0].ID != "40321" || gs[0].Name != "QA group" || gs[0].State != "B2_GOOD_STANDING" || len(gs[0].Products) != 1 || len(gs[0].Raw) == 0 {
		t.Fatalf("groups = %+v", gs)
	}
	if n := e.calls("b2_list_groups"); n != 3 {
		t.Errorf("list_groups calls = %d, want 3 pages", n)
	}
	gs, err = e.c.ListGroups(ctx, e.c.Account().AccountID, ListGroupsOptions{GroupName: "Engineering"})
	if err != nil || len(gs) != 1 {
		t.Fatalf("by name = %+v, %v", gs, err)
	}
	plain := newEnv(t, envOptions{})
	if _, err := plain.c.ListGroups(ctx, plain.c.Account().AccountID, ListGroupsOptions{}); err == nil {
		t.Fatal("ListGroups without a Partner account succeeded")
	}
}

func TestRequireCapabilities(t *testing.T) {
	e := newEnv(t, envOptions{})
	if err := e.c.RequireCapabilities("listFiles", "writeFiles"); err != nil {
		t.Fatal(err)
	}
	err := e.c.RequireCapabilities("listFiles", "noSuchCap", "otherCap")
	if !errors.Is(err, ErrMissingCapability) || !strings.Contains(err.Error(), "noSuchCap, otherCap") {
		t.Fatalf("err = %v", err)
	}
}

func TestProactiveTokenRefresh(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	e.c.refreshAge = time.Hour
	if _, err := e.c.ListBuckets(ctx, ListBucketsOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := e.calls("b2_authorize_account"); n != 0 {
		t.Fatalf("young token refreshed (%d calls)", n)
	}
	e.c.refreshAge = 0
	if _, err := e.c.ListBuckets(ctx, ListBucketsOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := e.calls("b2_authorize_account"); n != 1 {
		t.Fatalf("old token: %d authorize calls, want 1", n)
	}
	if n := e.calls("b2_list_buckets"); n != 2 {
		t.Fatalf("list calls = %d, want 2 (no failed call)", n)
	}
}

func TestCancelUnfinishedLargeFiles(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	for _, n := range []string{"tmp/a", "tmp/b", "keep/c"} {
		if _, err := e.c.StartLargeFile(ctx, UploadRequest{BucketID: e.bucketID, Name: n}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := e.c.CancelUnfinishedLargeFiles(ctx, e.bucketID, "tmp/", time.Hour); err != nil || n != 0 {
		t.Fatalf("young files cancelled: %d, %v", n, err)
	}
	n, err := e.c.CancelUnfinishedLargeFiles(ctx, e.bucketID, "tmp/", -time.Minute)
	if err != nil || n != 2 {
		t.Fatalf("cancelled %d, %v; want 2", n, err)
	}
	left := e.unfinished()
	if len(left) != 1 || left[0].Name != "keep/c" {
		t.Fatalf("left %+v", left)
	}
}

func TestLowLevelLargeFile(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	start, err := e.c.StartLargeFile(ctx, UploadRequest{BucketID: e.bucketID, Name: "manual.bin", ContentType: "application/x-test"})
	if err != nil || start.Action != ActionStart {
		t.Fatalf("start = %+v, %v", start, err)
	}
	p1, p2 := randBytes(testPartSize, 30), randBytes(100, 31)
	var shas []string
	for i, p := range [][]byte{p1, p2} {
		part, err := e.c.UploadPart(ctx, start.ID, i+1, bytesReaderAt(p), int64(len(p)), "")
		if err != nil || part.SHA1 != sha1Hex(p) || part.PartNumber != i+1 || part.Size != int64(len(p)) {
			t.Fatalf("part %d = %+v, %v", i+1, part, err)
		}
		shas = append(shas, part.SHA1)
	}
	pp, err := e.c.ListParts(ctx, start.ID, 0, 1)
	if err != nil || len(pp.Parts) != 1 || pp.NextPartNumber != 2 {
		t.Fatalf("ListParts = %+v, %v", pp, err)
	}
	u, err := e.c.GetUploadPartURL(ctx, start.ID)
	if err != nil || u.URL == "" || u.Token == "" || u.FileID != start.ID {
		t.Fatalf("GetUploadPartURL = %+v, %v", u, err)
	}
	f, err := e.c.FinishLargeFile(ctx, start.ID, shas)
	if err != nil || f.ID != start.ID || f.Size != int64(len(p1)+len(p2)) {
		t.Fatalf("finish = %+v, %v", f, err)
	}
	got, _ := e.download(DownloadRequest{FileID: f.ID})
	mustEqualBytes(t, "manual large file", got, append(append([]byte{}, p1...), p2...))
	uu, err := e.c.GetUploadURL(ctx, e.bucketID)
	if err != nil || uu.URL == "" || uu.BucketID != e.bucketID {
		t.Fatalf("GetUploadURL = %+v, %v", uu, err)
	}
}

// TestHeadExpiredToken: a HEAD answer has no error body, yet an expired
// token is renewed, while a real 401 is reported after one renewal.
func TestHeadExpiredToken(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	e.put("dir/a", []byte("abc"))
	e.ts.ExpireTokens()
	f, err := e.c.Head(ctx, e.bucketName, "dir/a")
	if err != nil || f.Size != 3 {
		t.Fatalf("Head after expiry = %+v, %v", f, err)
	}
	if n := e.calls("b2_authorize_account"); n != 1 {
		t.Fatalf("authorize calls = %d, want 1", n)
	}
	id, secret := e.createKey(map[string]any{"keyName": "pfx", "capabilities": []string{"listFiles", "readFiles"}, "bucketId": e.bucketID, "namePrefix": "dir/"})
	rc, err := New(ctx, Config{Endpoint: e.ts.URL, KeyID: id, Key: secret, MinBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	e.ts.ResetStats()
	if _, err := rc.Head(ctx, e.bucketName, "outside"); !IsUnauthorized(err) {
		t.Fatalf("Head outside the key's prefix: %v, want unauthorized", err)
	}
	if n := e.calls("b2_authorize_account"); n != 1 {
		t.Fatalf("authorize calls = %d, want 1 (one renewal, then give up)", n)
	}
}
