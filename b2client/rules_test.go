package b2client

import (
	"strings"
	"testing"
)

func TestValidBucketName(t *testing.T) {
	for name, want := range map[string]bool{
		"my-bucket": true, "abcdef": true, "ABC123-x": true,
		"short": false, "b2-reserved": false, "has_underscore": false,
		"has.dot.name": false, strings.Repeat("a", 63): true, strings.Repeat("a", 64): false,
	} {
		if got := ValidBucketName(name); got != want {
			t.Errorf("ValidBucketName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestInfoHeaderBytes(t *testing.T) {
	// "X-Bz-File-Name: a b" percent-encodes the space; each info line is
	// "X-Bz-Info-" + key + ": " + value + CRLF.
	got := InfoHeaderBytes("a b", map[string]string{"k": "v"})
	want := len("X-Bz-File-Name: a%20b\r\n") + len("X-Bz-Info-k: v\r\n")
	if got != want {
		t.Fatalf("InfoHeaderBytes = %d, want %d", got, want)
	}
}
