package b2client

import (
	"encoding/json"
	"strconv"
	"time"
)

// File actions (File.Action).
const (
	ActionUpload = "upload" // a stored file version
	ActionStart  = "start"  // an unfinished large file
	ActionHide   = "hide"   // a hide marker
	ActionFolder = "folder" // a listing pseudo-entry for a common prefix
	ActionCopy   = "copy"   // returned by b2_copy_file for the new version
)

// Account describes the authorized session: where to send calls and what the
// key may do. Account values are snapshots; re-authorization replaces them.
type Account struct {
	// AccountID comes from the authorize response (it differs from the key
	// ID for non-master keys).
	AccountID    string
	APIURL       string
	DownloadURL  string
	S3APIURL     string
	GroupsAPIURL string // empty unless the account is Partner-enabled
	// RecommendedPartSize and AbsoluteMinimumPartSize drive large uploads.
	RecommendedPartSize     int64
	AbsoluteMinimumPartSize int64
	Capabilities            []string
	// BucketID, BucketName and NamePrefix are the key's restrictions (empty
	// when unrestricted; BucketName is empty if the bucket was deleted).
	BucketID   string
	BucketName string
	NamePrefix string
	// KeyExpiration is when the key expires; zero for keys without expiry.
	KeyExpiration time.Time
}

// Bucket is a B2 bucket.
type Bucket struct {
	AccountID      string
	ID             string
	Name           string
	Type           string // allPublic, allPrivate, snapshot, ...
	Info           map[string]string
	LifecycleRules []LifecycleRule
	Options        []string
	Revision       int64
}

// LifecycleRule is a bucket lifecycle rule; nil day counts are unset.
type LifecycleRule struct {
	FileNamePrefix                                  string `json:"fileNamePrefix"`
	DaysFromUploadingToHiding                       *int   `json:"daysFromUploadingToHiding,omitempty"`
	DaysFromHidingToDeleting                        *int   `json:"daysFromHidingToDeleting,omitempty"`
	DaysFromStartingToCancelingUnfinishedLargeFiles *int   `json:"daysFromStartingToCancelingUnfinishedLargeFiles,omitempty"`
}

// ListBucketsOptions filters b2_list_buckets. Types nil means B2's default
// (allPublic, allPrivate, snapshot); []string{"all"} lists every type.
type ListBucketsOptions struct {
	ID    string
	Name  string
	Types []string
}

// CreateBucketOptions holds the optional fields of b2_create_bucket.
type CreateBucketOptions struct {
	Info           map[string]string
	LifecycleRules []LifecycleRule
}

// File is one file version (or a hide marker, an unfinished large file, or a
// folder pseudo-entry of a delimited listing: see Action).
type File struct {
	ID          string
	Name        string
	BucketID    string
	AccountID   string
	Action      string
	ContentType string
	// SHA1 is the contentSha1 as B2 reports it: 40 hex digits, "none" for
	// large files, "unverified:<hex>", or empty. See ContentSHA1.
	SHA1 string
	MD5  string
	// Size is the whole file's size in bytes (contentLength, or v1 size).
	Size int64
	// UploadTimestamp is in milliseconds since the epoch.
	UploadTimestamp int64
	Info            map[string]string
}

// ModTime returns the source modification time from src_last_modified_millis
// when it holds a valid value, else the upload time.
func (f *File) ModTime() time.Time {
	if v, ok := f.Info[InfoModTime]; ok {
		if ms, err := strconv.ParseInt(v, 10, 64); err == nil && ms >= 0 {
			return time.UnixMilli(ms)
		}
	}
	return time.UnixMilli(f.UploadTimestamp)
}

// ContentSHA1 returns the whole-file SHA-1 in lower-case hex when one is
// known: contentSha1 when it is real hex, else the large_file_sha1 file info.
// It returns "" when no trustworthy SHA-1 exists.
func (f *File) ContentSHA1() string {
	if isHexSHA1(f.SHA1) {
		return f.SHA1
	}
	if v := f.Info[InfoLargeFileSHA1]; isHexSHA1(v) {
		return v
	}
	return ""
}

func isHexSHA1(s string) bool {
	if len(s) != 40 {
		return false
	}
	for i := 0; i < 40; i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// ListOptions drives file listings.
type ListOptions struct {
	Prefix    string
	Delimiter string
	// StartName and StartID (versions only, with StartName) are the
	// inclusive starting point: pass a page's NextName/NextID.
	StartName string
	StartID   string
	// PageSize is maxFileCount: 0 means 1000; at most 10000.
	PageSize int
}

// ListPage is one page of a listing. NextName (and NextID for versions) is
// empty when the listing is complete; a page may be short or even empty while
// NextName is not.
type ListPage struct {
	Files    []File
	NextName string
	NextID   string
}

// UploadURL is an upload target from b2_get_upload_url or
// b2_get_upload_part_url. It serves one upload at a time.
type UploadURL struct {
	URL      string
	Token    string
	BucketID string // for b2_get_upload_url
	FileID   string // large file ID, for b2_get_upload_part_url
}

// Part is an uploaded or copied part of a large file.
type Part struct {
	FileID          string
	PartNumber      int
	Size            int64
	SHA1            string
	MD5             string
	UploadTimestamp int64
}

// PartsPage is one page of b2_list_parts; NextPartNumber is 0 when done.
type PartsPage struct {
	Parts          []Part
	NextPartNumber int
}

// UnfinishedOptions drives b2_list_unfinished_large_files.
type UnfinishedOptions struct {
	NamePrefix string
	StartID    string
	PageSize   int // 0 means 100 (the maximum)
}

// Group is a Partner API group (b2_list_groups). Raw holds the whole JSON
// object for fields not modelled here.
type Group struct {
	ID       string
	Name     string
	Products []string
	State    string // accountStandingDetails.state, e.g. B2_GOOD_STANDING
	Raw      json.RawMessage
}

// ListGroupsOptions filters b2_list_groups.
type ListGroupsOptions struct {
	GroupName string
	PageSize  int // maxGroupCount, 0 means 100
}

// ---- wire types ----

type authorizeResponse struct {
	AccountID string `json:"accountId"`
	Token     string `json:"authorizationToken"`
	APIInfo   struct {
		StorageAPI struct {
			APIURL                  string   `json:"apiUrl"`
			DownloadURL             string   `json:"downloadUrl"`
			S3APIURL                string   `json:"s3ApiUrl"`
			RecommendedPartSize     int64    `json:"recommendedPartSize"`
			AbsoluteMinimumPartSize int64    `json:"absoluteMinimumPartSize"`
			Capabilities            []string `json:"capabilities"`
			BucketID                *string  `json:"bucketId"`
			BucketName              *string  `json:"bucketName"`
			NamePrefix              *string  `json:"namePrefix"`
		} `json:"storageApi"`
		GroupsAPI *struct {
			GroupsAPIURL string `json:"groupsApiUrl"`
		} `json:"groupsApi"`
	} `json:"apiInfo"`
	KeyExpiration *int64 `json:"applicationKeyExpirationTimestamp"`
}

// wireFile is a file as B2 sends it. Strings are values, not pointers
// (null and absent read as ""): a listing page decodes 10,000 of them, and
// every pointer would be an allocation.
type wireFile struct {
	AccountID       string            `json:"accountId"`
	Action          string            `json:"action"`
	BucketID        string            `json:"bucketId"`
	ContentLength   *int64            `json:"contentLength"`
	Size            *int64            `json:"size"`
	ContentSHA1     string            `json:"contentSha1"`
	ContentMD5      string            `json:"contentMd5"`
	ContentType     string            `json:"contentType"`
	FileID          string            `json:"fileId"`
	FileInfo        map[string]string `json:"fileInfo"`
	FileName        string            `json:"fileName"`
	UploadTimestamp int64             `json:"uploadTimestamp"`
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func i64(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

func (w *wireFile) file() File {
	size := i64(w.ContentLength)
	if w.ContentLength == nil {
		size = i64(w.Size)
	}
	return File{
		ID:              w.FileID,
		Name:            w.FileName,
		BucketID:        w.BucketID,
		AccountID:       w.AccountID,
		Action:          w.Action,
		ContentType:     w.ContentType,
		SHA1:            w.ContentSHA1,
		MD5:             w.ContentMD5,
		Size:            size,
		UploadTimestamp: w.UploadTimestamp,
		Info:            w.FileInfo,
	}
}

type wireBucket struct {
	AccountID      *string           `json:"accountId"`
	BucketID       *string           `json:"bucketId"`
	BucketName     *string           `json:"bucketName"`
	BucketType     *string           `json:"bucketType"`
	BucketInfo     map[string]string `json:"bucketInfo"`
	LifecycleRules []LifecycleRule   `json:"lifecycleRules"`
	Options        []string          `json:"options"`
	Revision       *int64            `json:"revision"`
}

func (w *wireBucket) bucket() Bucket {
	return Bucket{
		AccountID:      str(w.AccountID),
		ID:             str(w.BucketID),
		Name:           str(w.BucketName),
		Type:           str(w.BucketType),
		Info:           w.BucketInfo,
		LifecycleRules: w.LifecycleRules,
		Options:        w.Options,
		Revision:       i64(w.Revision),
	}
}

type wirePart struct {
	FileID          *string `json:"fileId"`
	PartNumber      int     `json:"partNumber"`
	ContentLength   *int64  `json:"contentLength"`
	ContentSHA1     *string `json:"contentSha1"`
	ContentMD5      *string `json:"contentMd5"`
	UploadTimestamp *int64  `json:"uploadTimestamp"`
}

func (w *wirePart) part() Part {
	return Part{
		FileID:          str(w.FileID),
		PartNumber:      w.PartNumber,
		Size:            i64(w.ContentLength),
		SHA1:            str(w.ContentSHA1),
		MD5:             str(w.ContentMD5),
		UploadTimestamp: i64(w.UploadTimestamp),
	}
}

type wireUploadURL struct {
	AuthorizationToken string  `json:"authorizationToken"`
	UploadURL          string  `json:"uploadUrl"`
	BucketID           *string `json:"bucketId"`
	FileID             *string `json:"fileId"`
}

type wireError struct {
	Status  int    `json:"status"`
	Code    string `json:"code"`
	Message string `json:"message"`
}
