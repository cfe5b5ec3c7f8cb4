package b2client

import (
	"context"
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
