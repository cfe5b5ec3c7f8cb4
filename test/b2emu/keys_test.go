package b2emu

import (
	"testing"
	"time"
)

func TestKeysAndRestrictions(t *testing.T) {
	ts := newServer(t, Options{})
	c := login(t, ts)
	acct := c.accountID
	bid := c.createBucket("restricted-bucket", "allPrivate")
	other := c.createBucket("other-bucket", "allPrivate")
	c.upload(bid, "pub/a.txt", []byte("a"))
	c.upload(bid, "pub/sub/b.txt", []byte("b"))
	c.upload(bid, "priv/c.txt", []byte("c"))
	c.upload(other, "o.txt", []byte("o"))

	for _, bad := range []map[string]any{
		{"accountId": acct, "keyName": "k", "capabilities": []string{}},
		{"accountId": acct, "keyName": "k", "capabilities": []string{"flyToMoon"}},
		{"accountId": acct, "keyName": "bad name", "capabilities": []string{"listFiles"}},
		{"accountId": acct, "keyName": "", "capabilities": []string{"listFiles"}},
		{"accountId": acct, "keyName": "k", "capabilities": []string{"listFiles"}, "validDurationInSeconds": 0},
		{"accountId": acct, "keyName": "k", "capabilities": []string{"listFiles"}, "validDurationInSeconds": 86400001},
		{"accountId": acct, "keyName": "k", "capabilities": []string{"listFiles"}, "namePrefix": "x"},
		{"accountId": acct, "keyName": "k", "capabilities": []string{"writeBuckets"}, "bucketId": bid},
	} {
		c.wantErr("b2_create_key", bad, 400, "bad_request")
	}
	c.wantErr("b2_create_key", map[string]any{"accountId": acct, "keyName": "k", "capabilities": []string{"listFiles"}, "bucketId": "nonexistent"}, 400, "bad_bucket_id")

	k := c.must("b2_create_key", map[string]any{"accountId": acct, "keyName": "fuse-readonly",
		"capabilities": []string{"listBuckets", "listFiles", "readFiles", "writeFiles"}, "bucketId": bid, "namePrefix": "pub/"})
	if k["applicationKey"] == nil || k["bucketId"] != bid || k["namePrefix"] != "pub/" || k["expirationTimestamp"] != nil {
		t.Fatalf("create_key %v", k)
	}
	kid, secret := k["applicationKeyId"].(string), k["applicationKey"].(string)

	// v3 authorize reflects the restriction
	rc := &client{t: t, base: ts.URL, hc: c.hc}
	_, a3 := rc.authorize(kid, secret, 3)
	sa := a3["apiInfo"].(map[string]any)["storageApi"].(map[string]any)
	if sa["bucketId"] != bid || sa["bucketName"] != "restricted-bucket" || sa["namePrefix"] != "pub/" {
		t.Errorf("restricted authorize %v", sa)
	}
	if a3["accountId"] != acct {
		t.Errorf("accountId %v", a3["accountId"])
	}
	r := loginKey(t, ts, kid, secret, 3)
	// listing
	r.wantErr("b2_list_file_names", map[string]any{"bucketId": bid}, 401, "unauthorized")
	r.wantErr("b2_list_file_names", map[string]any{"bucketId": bid, "prefix": "priv/"}, 401, "unauthorized")
	r.wantErr("b2_list_file_names", map[string]any{"bucketId": other, "prefix": "pub/"}, 401, "unauthorized")
	if got := listed(r.must("b2_list_file_names", map[string]any{"bucketId": bid, "prefix": "pub/"})); !eq(got, []string{"upload:pub/a.txt", "upload:pub/sub/b.txt"}) {
		t.Errorf("restricted listing %v", got)
	}
	// buckets: must name the bucket in v2+
	r.wantErr("b2_list_buckets", map[string]any{"accountId": acct}, 401, "unauthorized")
	r.wantErr("b2_list_buckets", map[string]any{"accountId": acct, "bucketId": other}, 401, "unauthorized")
	bs := r.must("b2_list_buckets", map[string]any{"accountId": acct, "bucketName": "restricted-bucket"})
	if len(bs["buckets"].([]any)) != 1 {
		t.Fatalf("restricted list_buckets %v", bs)
	}
	// without readBucketEncryption/readBucketRetentions/readFileRetentions/
	// readFileLegalHolds those values are hidden
	rb := bs["buckets"].([]any)[0].(map[string]any)
	for _, k := range []string{"defaultServerSideEncryption", "fileLockConfiguration"} {
		if v := rb[k].(map[string]any); v["isClientAuthorizedToRead"] != false || v["value"] != nil {
			t.Errorf("restricted key sees %s %v", k, v)
		}
	}
	rf := r.must("b2_list_file_names", map[string]any{"bucketId": bid, "prefix": "pub/"})["files"].([]any)[0].(map[string]any)
	if v := rf["fileRetention"].(map[string]any); v["isClientAuthorizedToRead"] != false || v["value"] != nil {
		t.Errorf("restricted key sees fileRetention %v", v)
	}
	if v := rf["legalHold"].(map[string]any); v["isClientAuthorizedToRead"] != false {
		t.Errorf("restricted key sees legalHold %v", v)
	}
	mf := c.must("b2_list_file_names", map[string]any{"bucketId": bid, "prefix": "pub/"})["files"].([]any)[0].(map[string]any)
	if v := mf["fileRetention"].(map[string]any); v["isClientAuthorizedToRead"] != true || v["value"] == nil {
		t.Errorf("master key fileRetention %v", v)
	}
	r.wantErr("b2_create_bucket", map[string]any{"accountId": acct, "bucketName": "new-bucket-x", "bucketType": "allPrivate"}, 401, "unauthorized")
	// capabilities
	r.wantErr("b2_delete_file_version", map[string]any{"fileName": "pub/a.txt", "fileId": "4_zx"}, 401, "unauthorized")
	r.wantErr("b2_create_key", map[string]any{"accountId": acct, "keyName": "x", "capabilities": []string{"listFiles"}}, 401, "unauthorized")
	r.wantErr("b2_get_download_authorization", map[string]any{"bucketId": bid, "fileNamePrefix": "pub/", "validDurationInSeconds": 10}, 401, "unauthorized")
	// uploads and downloads outside the prefix
	u := r.uploadURL(bid)
	if st, m := r.uploadRaw(u, "priv/x.txt", []byte("x"), nil); st != 401 || m["code"] != "unauthorized" {
		t.Errorf("upload outside prefix: %d %v", st, m)
	}
	if st, _ := r.uploadRaw(u, "pub/x.txt", []byte("x"), nil); st != 200 {
		t.Errorf("upload inside prefix: %d", st)
	}
	if resp, _ := r.download("GET", "/file/restricted-bucket/priv/c.txt", nil); resp.StatusCode != 401 {
		t.Errorf("download outside prefix: %d", resp.StatusCode)
	}
	if resp, _ := r.download("GET", "/file/restricted-bucket/pub/a.txt", nil); resp.StatusCode != 200 {
		t.Errorf("download inside prefix: %d", resp.StatusCode)
	}
	if resp, _ := r.download("GET", "/file/other-bucket/o.txt", nil); resp.StatusCode != 401 {
		t.Errorf("download other bucket: %d", resp.StatusCode)
	}
	r.wantErr("b2_hide_file", map[string]any{"bucketId": bid, "fileName": "priv/c.txt"}, 401, "unauthorized")
	r.wantErr("b2_get_upload_url", map[string]any{"bucketId": other}, 401, "unauthorized")

	// v1: list_buckets returns the one bucket; prefix-restricted listings are filtered
	r1 := loginKey(t, ts, kid, secret, 1)
	if bs := r1.must("b2_list_buckets", map[string]any{"accountId": acct}); len(bs["buckets"].([]any)) != 1 {
		t.Errorf("v1 restricted list_buckets %v", bs)
	}
	l1 := r1.must("b2_list_file_names", map[string]any{"bucketId": bid})
	if got := listed(l1); !eq(got, []string{"upload:pub/a.txt", "upload:pub/sub/b.txt", "upload:pub/x.txt"}) {
		t.Errorf("v1 filtered listing %v", got)
	}
	f := l1["files"].([]any)[0].(map[string]any)
	if f["size"] == nil || f["accountId"] != nil || f["bucketId"] != nil {
		t.Errorf("v1 listing shape %v", f)
	}
	if got := listed(r1.must("b2_list_file_names", map[string]any{"bucketId": bid, "prefix": "priv/"})); len(got) != 0 {
		t.Errorf("v1 listing outside prefix %v", got)
	}

	// list_keys paging; no secrets
	for i := 0; i < 3; i++ {
		c.must("b2_create_key", map[string]any{"accountId": acct, "keyName": "bulk", "capabilities": []string{"listFiles"}})
	}
	lk := c.must("b2_list_keys", map[string]any{"accountId": acct, "maxKeyCount": 3})
	if len(lk["keys"].([]any)) != 3 || lk["nextApplicationKeyId"] == nil {
		t.Fatalf("list_keys page 1 %v", lk)
	}
	for _, kk := range lk["keys"].([]any) {
		if kk.(map[string]any)["applicationKey"] != nil {
			t.Errorf("list_keys leaks the secret")
		}
	}
	lk2 := c.must("b2_list_keys", map[string]any{"accountId": acct, "startApplicationKeyId": lk["nextApplicationKeyId"]})
	if len(lk2["keys"].([]any)) != 1 || lk2["nextApplicationKeyId"] != nil {
		t.Errorf("list_keys page 2 %v", lk2)
	}
	// delete: the key's tokens stop working, authorize fails
	d := c.must("b2_delete_key", map[string]any{"applicationKeyId": kid})
	if d["applicationKeyId"] != kid || d["applicationKey"] != nil {
		t.Errorf("delete_key %v", d)
	}
	r.wantErr("b2_list_file_names", map[string]any{"bucketId": bid, "prefix": "pub/"}, 401, "expired_auth_token")
	if st, _ := r.uploadRaw(u, "pub/y.txt", []byte("y"), nil); st != 401 {
		t.Errorf("upload with deleted key: %d", st)
	}
	if st, m := rc.authorize(kid, secret, 3); st != 401 || m["code"] != "unauthorized" {
		t.Errorf("authorize deleted key: %d %v", st, m)
	}
	c.wantErr("b2_delete_key", map[string]any{"applicationKeyId": kid}, 400, "bad_request")

	// expiring key
	ek := c.must("b2_create_key", map[string]any{"accountId": acct, "keyName": "short", "capabilities": []string{"listBuckets"}, "validDurationInSeconds": 60})
	if ek["expirationTimestamp"] == nil {
		t.Errorf("expirationTimestamp %v", ek)
	}
	e := loginKey(t, ts, ek["applicationKeyId"].(string), ek["applicationKey"].(string), 3)
	_, ea := rc.authorize(ek["applicationKeyId"].(string), ek["applicationKey"].(string), 3)
	if ea["applicationKeyExpirationTimestamp"] == nil {
		t.Errorf("v3 applicationKeyExpirationTimestamp missing for expiring key")
	}
	e.must("b2_list_buckets", map[string]any{"accountId": acct})
	ts.AdvanceClock(61 * time.Second)
	e.wantErr("b2_list_buckets", map[string]any{"accountId": acct}, 401, "expired_auth_token")
	if st, _ := rc.authorize(ek["applicationKeyId"].(string), ek["applicationKey"].(string), 3); st != 401 {
		t.Errorf("authorize expired key: %d", st)
	}
}

func TestListGroups(t *testing.T) {
	ts := newServer(t, Options{})
	c := login(t, ts)
	c.wantErr("b2_list_groups", map[string]any{"adminAccountId": c.accountID}, 401, "unauthorized")

	ts = newServer(t, Options{Partner: true})
	c = login(t, ts)
	m := c.must("b2_list_groups", map[string]any{"adminAccountId": c.accountID, "maxGroupCount": 2})
	if len(m["groups"].([]any)) != 2 || m["nextGroupId"] == nil {
		t.Fatalf("page 1 %v", m)
	}
	m = c.must("b2_list_groups", map[string]any{"adminAccountId": c.accountID, "startGroupId": m["nextGroupId"]})
	if len(m["groups"].([]any)) != 1 || m["nextGroupId"] != nil {
		t.Errorf("page 2 %v", m)
	}
	if st, m := c.get("b2_list_groups", "adminAccountId="+c.accountID+"&groupName=QA+group"); st != 200 || len(m["groups"].([]any)) != 2 {
		t.Errorf("GET by name %d %v", st, m)
	}
	c.wantErr("b2_list_groups", map[string]any{"adminAccountId": c.accountID, "maxGroupCount": 101}, 400, "bad_request")
	c.wantErr("b2_list_groups", map[string]any{}, 400, "bad_request")
}
