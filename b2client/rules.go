package b2client

import "strings"

// B2 wire rules the filesystem checks before it calls B2 (reference §3,
// §4.5). The name rules are in package nameenc (MaxSegment, MaxName).

// Capability names of application keys (b2_authorize_account's
// allowed.capabilities).
const (
	CapListBuckets   = "listBuckets"
	CapWriteBuckets  = "writeBuckets"
	CapDeleteBuckets = "deleteBuckets"
	CapListFiles     = "listFiles"
	CapReadFiles     = "readFiles"
	CapWriteFiles    = "writeFiles"
	CapDeleteFiles   = "deleteFiles"
)

// ValidBucketName checks B2's bucket name rules: 6 to 63 letters, digits
// and hyphens, not starting with "b2-".
func ValidBucketName(s string) bool {
	if len(s) < 6 || len(s) > 63 || strings.HasPrefix(strings.ToLower(s), "b2-") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// InfoHeaderBytes is the size of the header lines B2 counts against its
// MaxHeaderBudget for a file's name and info: X-Bz-File-Name plus one
// X-Bz-Info-* line per entry, values percent-encoded.
func InfoHeaderBytes(name string, info map[string]string) int {
	n := len("X-Bz-File-Name: ") + len(PercentEncode(name)) + 2
	for k, v := range info {
		n += len("X-Bz-Info-") + len(k) + 2 + len(PercentEncode(v)) + 2
	}
	return n
}
