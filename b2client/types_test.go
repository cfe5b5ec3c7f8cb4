package b2client

import (
	"encoding/json"
	"testing"
)

func TestWireFileTolerant(t *testing.T) {
	tests := []struct {
		name string
		json string
		want File
	}{
		{"v1 size", `{"action":"upload","fileId":"id1","fileName":"a","size":5,"contentSha1":"x","uploadTimestamp":7}`,
			File{ID: "id1", Name: "a", Action: "upload", Size: 5, SHA1: "x", UploadTimestamp: 7}},
		{"v2 contentLength wins", `{"fileName":"a","size":5,"contentLength":6}`, File{Name: "a", Size: 6}},
		{"nulls and unknown fields", `{"action":"folder","fileId":null,"fileName":"d/","contentLength":0,"contentSha1":null,"contentMd5":null,"contentType":null,"fileInfo":{},"uploadTimestamp":0,"fileRetention":{"x":1},"newField":[1,2]}`,
			File{Name: "d/", Action: "folder", Info: map[string]string{}}},
		{"hide marker", `{"action":"hide","fileId":"h","fileName":"a","contentLength":0,"contentSha1":"da39a3ee5e6b4b0d3255bfef95601890afd80709","contentType":"application/x-bz-hide-marker","fileInfo":{}}`,
			File{ID: "h", Name: "a", Action: "hide", SHA1: "da39a3ee5e6b4b0d3255bfef95601890afd80709", ContentType: "application/x-bz-hide-marker", Info: map[string]string{}}},
	}
	for _, tt := range tests {
		var w wireFile
		if err := json.Unmarshal([]byte(tt.json), &w); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		got := w.file()
		if got.ID != tt.want.ID || got.Name != tt.want.Name || got.Action != tt.want.Action || got.Size != tt.want.Size ||
			got.SHA1 != tt.want.SHA1 || got.ContentType != tt.want.ContentType || got.UploadTimestamp != tt.want.UploadTimestamp ||
			len(got.Info) != len(tt.want.Info) {
			t.Errorf("%s: got %+v, want %+v", tt.name, got, tt.want)
		}
	}
	// ContentSHA1 only trusts real hex.
	for _, tt := range []struct {
		f    File
		want string
	}{
		{File{SHA1: "none", Info: map[string]string{InfoLargeFileSHA1: "2aae6c35c94fcfb415dbe95f408b9ce91ee846ed"}}, "2aae6c35c94fcfb415dbe95f408b9ce91ee846ed"},
		{File{SHA1: "unverified:2aae6c35c94fcfb415dbe95f408b9ce91ee846ed"}, ""},
		{File{SHA1: "none", Info: map[string]string{InfoLargeFileSHA1: "bogus"}}, ""},
		{File{SHA1: "2aae6c35c94fcfb415dbe95f408b9ce91ee846ed"}, "2aae6c35c94fcfb415dbe95f408b9ce91ee846ed"},
	} {
		if got := tt.f.ContentSHA1(); got != tt.want {
			t.Errorf("ContentSHA1(%+v) = %q, want %q", tt.f, got, tt.want)
		}
	}
}
