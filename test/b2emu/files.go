package b2emu

import (
	"crypto/md5"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

const (
	emptySHA1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709"
	emptyMD5  = "d41d8cd98f00b204e9800998ecf8427e"
)

// newFileID returns a fresh file id; ids of one bucket sort newest first.
// Callers hold s.mu.
func (s *Server) newFileID(bucketID string, ms int64) (string, uint64) {
	s.st.seq++
	seq := s.st.seq
	t := time.UnixMilli(ms).UTC()
	return fmt.Sprintf("4_z%s_f%016x_d%s_m%s_c000_v0001000_t%04d_u%013d",
		bucketID, ^seq, t.Format("20060102"), t.Format("150405"), seq%10000, ms), seq
}

// fileObj is B2's file object; fields in alphabetical order like the real
// service. Pointers are JSON null when nil unless marked omitempty.
type fileObj struct {
	AccountID            *string           `json:"accountId,omitempty"`
	Action               string            `json:"action"`
	BucketID             *string           `json:"bucketId,omitempty"`
	ContentLength        int64             `json:"contentLength"`
	ContentMd5           *string           `json:"contentMd5"`
	ContentSha1          *string           `json:"contentSha1"`
	ContentType          *string           `json:"contentType"`
	FileID               *string           `json:"fileId"`
	FileInfo             map[string]string `json:"fileInfo"`
	FileName             string            `json:"fileName"`
	FileRetention        *retentionObj     `json:"fileRetention,omitempty"`
	LegalHold            *legalHoldObj     `json:"legalHold,omitempty"`
	ServerSideEncryption *sseObj           `json:"serverSideEncryption,omitempty"`
	Size                 *int64            `json:"size,omitempty"`
	UploadTimestamp      int64             `json:"uploadTimestamp"`
}

type retentionObj struct {
	IsClientAuthorizedToRead bool            `json:"isClientAuthorizedToRead"`
	Value                    *retentionValue `json:"value"`
}

type retentionValue struct {
	Mode                 *string `json:"mode"`
	RetainUntilTimestamp *int64  `json:"retainUntilTimestamp"`
}

type legalHoldObj struct {
	IsClientAuthorizedToRead bool    `json:"isClientAuthorizedToRead"`
	Value                    *string `json:"value"`
}

type sseObj struct {
	Algorithm *string `json:"algorithm"`
	Mode      *string `json:"mode"`
}

func strp(s string) *string { return &s }

// fileJSON renders the file object for key k (nil = fully authorized).
// listV1 selects the v1 listing shape (size, no accountId/bucketId).
func (s *Server) fileJSON(f *fileVersion, listV1 bool, k *appKey) *fileObj {
	info := make(map[string]string, len(f.Info))
	for k, v := range f.Info {
		info[k] = v
	}
	o := &fileObj{
		Action: f.Action, ContentLength: f.Size, ContentSha1: strp(f.SHA1),
		ContentType: strp(f.ContentType), FileID: strp(f.ID), FileInfo: info, FileName: f.Name,
		UploadTimestamp: f.TS,
	}
	if f.MD5 != "" {
		o.ContentMd5 = strp(f.MD5)
	}
	if f.Action != "hide" {
		o.FileRetention = &retentionObj{IsClientAuthorizedToRead: true, Value: &retentionValue{}}
		if k != nil && !k.has("readFileRetentions") {
			o.FileRetention = &retentionObj{}
		}
		o.LegalHold = &legalHoldObj{IsClientAuthorizedToRead: k == nil || k.has("readFileLegalHolds")}
		o.ServerSideEncryption = &sseObj{}
		if f.SSE != "" {
			o.ServerSideEncryption = &sseObj{Algorithm: strp("AES256"), Mode: strp(f.SSE)}
		}
	}
	if listV1 {
		o.Size = &o.ContentLength
	} else {
		o.AccountID, o.BucketID = &s.opts.AccountID, strp(f.BucketID)
	}
	return o
}

func (s *Server) folderJSON(name, bucketID string, listV1 bool) *fileObj {
	o := &fileObj{Action: "folder", FileInfo: map[string]string{}, FileName: name}
	if listV1 {
		o.Size = &o.ContentLength
	} else {
		o.AccountID, o.BucketID = &s.opts.AccountID, strp(bucketID)
	}
	return o
}

// receiveBody streams n bytes of r into a new blob, hashing on the way.
// Nothing is held in memory beyond a copy buffer.
func (s *Server) receiveBody(r io.Reader, n int64) (blob, sha, md string, err error) {
	if n == 0 {
		return "", emptySHA1, emptyMD5, nil // empty files need no blob
	}
	blob = "b-" + randHex(12)
	f, err := os.OpenFile(s.blobPath(blob), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return "", "", "", fmt.Errorf("create blob: %w", err)
	}
	h1, h5 := sha1.New(), md5.New()
	written, err := io.Copy(io.MultiWriter(f, h1, h5), io.LimitReader(r, n))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && written != n {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		_ = os.Remove(s.blobPath(blob))
		return "", "", "", err
	}
	return blob, hex.EncodeToString(h1.Sum(nil)), hex.EncodeToString(h5.Sum(nil)), nil
}

// uploadHeaders is what b2_upload_file and b2_upload_part share: length and
// SHA-1 handling.
type bodySpec struct {
	length    int64  // data bytes
	sha1      string // expected hex ("" = not verified)
	atEnd     bool
	noVerify  bool
	rawLength int64
}

var forbiddenUploadHeaders = []string{
	"Content-Disposition", "Content-Encoding", "Content-Language", "Content-Location",
	"Content-Range", "Expires",
}

func (s *Server) parseBodySpec(r *http.Request) (bodySpec, *apiErr) {
	var bs bodySpec
	for _, te := range r.TransferEncoding {
		if strings.EqualFold(te, "chunked") {
			return bs, badRequest("chunked transfer encoding is not supported; send Content-Length")
		}
	}
	if r.ContentLength < 0 {
		return bs, badRequest("Content-Length is required")
	}
	bs.rawLength = r.ContentLength
	bs.length = r.ContentLength
	sha := r.Header.Get("X-Bz-Content-Sha1")
	switch {
	case sha == "":
		return bs, badRequest("Missing header: X-Bz-Content-Sha1")
	case sha == "hex_digits_at_end":
		bs.atEnd = true
		bs.length -= 40
		if bs.length < 0 {
			return bs, badRequest("Content-Length too small for hex_digits_at_end")
		}
	case sha == "do_not_verify":
		bs.noVerify = true
	case strings.HasPrefix(sha, "unverified:") && isHex40(sha[len("unverified:"):]):
		bs.noVerify = true
	case isHex40(sha):
		bs.sha1 = strings.ToLower(sha)
	default:
		return bs, badRequest("X-Bz-Content-Sha1 must be 40 hex digits, hex_digits_at_end or do_not_verify")
	}
	if bs.length > s.opts.MaxFileSize {
		return bs, badRequest("Content-Length %d exceeds the maximum of %d bytes", bs.length, s.opts.MaxFileSize)
	}
	return bs, nil
}

// readBody receives the body per spec and verifies its SHA-1. On error the
// blob is already removed.
func (s *Server) readBody(r *http.Request, bs bodySpec) (blob, sha, md string, e *apiErr) {
	blob, sha, md, err := s.receiveBody(r.Body, bs.length)
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return "", "", "", errf(408, "request_timeout", "request body ended early: %v", err)
		}
		return "", "", "", errf(500, "internal_error", "storing body: %v", err)
	}
	want := bs.sha1
	if bs.atEnd {
		tail := make([]byte, 40)
		if _, err := io.ReadFull(r.Body, tail); err != nil {
			s.removeBlobs([]string{blob})
			return "", "", "", errf(408, "request_timeout", "request body ended early")
		}
		if !isHex40(string(tail)) {
			s.removeBlobs([]string{blob})
			return "", "", "", badRequest("the last 40 bytes of the body must be the hex SHA-1")
		}
		want = strings.ToLower(string(tail))
	}
	if !bs.noVerify && want != sha {
		s.removeBlobs([]string{blob})
		return "", "", "", badRequest("Sha1 did not match data received")
	}
	if bs.noVerify {
		sha = "unverified:" + sha
	}
	return blob, sha, md, nil
}

// uploadAuth checks the upload token of an upload URL request and marks the
// URL busy. release must be called when done.
func (s *Server) uploadAuth(c *call, kind string) (*uploadTarget, *appKey, *apiErr) {
	tok := c.r.Header.Get("Authorization")
	if tok == "" {
		return nil, nil, errf(401, "missing_auth_token", "Missing Authorization header")
	}
	id, opaque, _ := strings.Cut(c.route.rest, "/")
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.st.uploadTokens[tok]
	if u == nil || u.kind != kind || u.opaque != opaque || (kind == "file" && u.bucketID != id) || (kind == "part" && u.fileID != id) {
		return nil, nil, errf(401, "bad_auth_token", "Invalid upload authorization token for this URL")
	}
	now := s.now()
	k := s.findKey(u.keyID)
	if u.expired || !now.Before(u.expires) || k == nil || (k.Expires > 0 && now.UnixMilli() >= k.Expires) {
		return nil, nil, errf(401, "expired_auth_token", "Upload authorization token has expired")
	}
	if u.busy {
		return nil, nil, errf(400, "auth_token_limit", "more than one upload using this upload auth token")
	}
	u.busy = true
	return u, k, nil
}

func (s *Server) releaseUpload(u *uploadTarget) {
	s.mu.Lock()
	u.busy = false
	s.mu.Unlock()
}

// testModeUpload applies X-Bz-Test-Mode to uploads.
func (s *Server) testModeUpload(r *http.Request) *apiErr {
	switch r.Header.Get("X-Bz-Test-Mode") {
	case "fail_some_uploads":
		if s.testModeCount.Add(1)%int64(s.opts.TestModeFailEvery) == 0 {
			return errf(503, "service_unavailable", "upload failed on purpose (test mode)")
		}
	case "force_cap_exceeded":
		return errf(403, "storage_cap_exceeded", "storage cap exceeded (test mode)")
	}
	return nil
}

func (s *Server) apiGetUploadURL(c *call) (any, *apiErr) {
	id, e := c.p.reqStr("bucketId")
	if e != nil {
		return nil, e
	}
	if e := c.auth.check("writeFiles", id, nil); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, e := s.bucketFor(c.auth, id); e != nil {
		return nil, e
	}
	u := &uploadTarget{kind: "file", bucketID: id, opaque: "c000_v0001000_t" + randHex(6),
		keyID: c.auth.key.ID, expires: s.now().Add(s.opts.TokenLifetime)}
	tok := s.addUploadToken(u)
	return map[string]any{
		"authorizationToken": tok,
		"bucketId":           id,
		"uploadUrl":          fmt.Sprintf("http://%s/b2api/v%d/b2_upload_file/%s/%s", c.r.Host, c.route.version, id, u.opaque),
	}, nil
}

// serveUpload answers an upload URL of the given kind ("file" or "part"):
// it requires POST, authorizes the upload token, runs store and writes its
// JSON result or error.
func (s *Server) serveUpload(c *call, kind string, store func(*call, *uploadTarget, *appKey) (any, *apiErr)) {
	if c.r.Method != http.MethodPost {
		writeErr(c.w, c.r, errf(405, "method_not_allowed", "uploads must use POST"))
		return
	}
	u, k, e := s.uploadAuth(c, kind)
	if e != nil {
		writeErr(c.w, c.r, e)
		return
	}
	defer s.releaseUpload(u)
	res, e := store(c, u, k)
	if e != nil {
		writeErr(c.w, c.r, e)
		return
	}
	writeJSON(c.w, c.r, 200, res)
}

func (s *Server) uploadFile(c *call, u *uploadTarget, k *appKey) (any, *apiErr) {
	r := c.r
	if e := s.testModeUpload(r); e != nil {
		return nil, e
	}
	for _, h := range forbiddenUploadHeaders {
		if _, ok := r.Header[h]; ok {
			return nil, badRequest("header %s is not allowed on b2_upload_file; use X-Bz-Info-b2-%s", h, strings.ToLower(h))
		}
	}
	rawName := r.Header.Get("X-Bz-File-Name")
	if rawName == "" {
		return nil, badRequest("Missing header: X-Bz-File-Name")
	}
	name, ok := percentDecode(rawName)
	if !ok {
		return nil, badRequest("X-Bz-File-Name is not valid percent-encoded UTF-8")
	}
	if e := validateFileName(name, s.opts.RelaxedNames); e != nil {
		return nil, e
	}
	ctype := r.Header.Get("Content-Type")
	if !validContentType(ctype) {
		return nil, badRequest("missing or invalid Content-Type")
	}
	if ctype == "b2/x-auto" {
		ctype = autoContentType(name)
	}
	info, e := s.infoFromHeaders(r, rawName)
	if e != nil {
		return nil, e
	}
	bs, e := s.parseBodySpec(r)
	if e != nil {
		return nil, e
	}
	a := &authInfo{key: k}
	if e := a.check("writeFiles", u.bucketID, &name); e != nil {
		return nil, e
	}
	sse := ""
	if v := r.Header.Get("X-Bz-Server-Side-Encryption"); v != "" {
		if v != "AES256" {
			return nil, badRequest("X-Bz-Server-Side-Encryption must be AES256")
		}
		sse = "SSE-B2"
	}
	blob, sha, md, e := s.readBody(r, bs)
	if e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.st.buckets[u.bucketID]
	if b == nil {
		s.removeBlobs([]string{blob})
		return nil, errf(400, "bad_bucket_id", "Bucket %s does not exist", u.bucketID)
	}
	f := s.addUpload(b, name, ctype, info, blob, bs.length, sha, md)
	f.SSE = sse
	s.journalFile(f)
	return s.fileJSON(f, false, k), nil
}

// addUpload records a new simple upload. Callers hold s.mu and journal it.
func (s *Server) addUpload(b *bucket, name, ctype string, info map[string]string, blob string, size int64, sha, md string) *fileVersion {
	ms := s.nowMillis()
	id, seq := s.newFileID(b.ID, ms)
	f := &fileVersion{ID: id, Seq: seq, BucketID: b.ID, Name: name, Action: "upload",
		ContentType: ctype, Size: size, SHA1: sha, MD5: md, Info: info, TS: ms, Blob: blob}
	b.insert(f)
	s.st.files[id] = f
	return f
}

// infoFromHeaders collects X-Bz-Info-* headers with B2's rules.
func (s *Server) infoFromHeaders(r *http.Request, rawName string) (map[string]string, *apiErr) {
	info := map[string]string{}
	budget := len("X-Bz-File-Name: ") + len(rawName) + 2
	for h, vs := range r.Header {
		if len(h) <= len("X-Bz-Info-") || !strings.EqualFold(h[:len("X-Bz-Info-")], "X-Bz-Info-") {
			continue
		}
		k := strings.ToLower(h[len("X-Bz-Info-"):])
		if len(vs) > 1 {
			return nil, badRequest("duplicate header %s", h)
		}
		v, ok := percentDecode(vs[0])
		if !ok {
			return nil, badRequest("value of %s is not valid percent-encoded UTF-8", h)
		}
		if e := validateInfo(k, v); e != nil {
			return nil, e
		}
		if _, dup := info[k]; dup {
			return nil, badRequest("duplicate file info %s", k)
		}
		info[k] = v
		budget += len(h) + 2 + len(vs[0]) + 2
	}
	if len(info) > s.opts.MaxInfoHeaders {
		return nil, badRequest("too many X-Bz-Info-* headers (max %d)", s.opts.MaxInfoHeaders)
	}
	if budget > 7000 {
		return nil, badRequest("file name and file info headers exceed 7000 bytes")
	}
	return info, nil
}

// PutFile stores a file directly (a seeding hook for tests): no name
// validation, no statistics. info keys are lower-cased. The content type
// comes from the name's extension.
func (s *Server) PutFile(bucketName, fileName string, body []byte, info map[string]string) (string, error) {
	return s.putFile(bucketName, fileName, strings.NewReader(string(body)), int64(len(body)), info)
}

func (s *Server) putFile(bucketName, fileName string, body io.Reader, size int64, info map[string]string) (string, error) {
	blob, sha, md, err := s.receiveBody(body, size)
	if err != nil {
		return "", fmt.Errorf("b2emu: put %s: %w", fileName, err)
	}
	lower := map[string]string{}
	for k, v := range info {
		lower[strings.ToLower(k)] = v
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.st.bucketNames[strings.ToLower(bucketName)]
	if b == nil {
		s.removeBlobs([]string{blob})
		return "", fmt.Errorf("b2emu: put %s: no bucket %q", fileName, bucketName)
	}
	f := s.addUpload(b, fileName, autoContentType(fileName), lower, blob, size, sha, md)
	s.journalFile(f)
	return f.ID, nil
}

// fileByID finds a version by id with the key's restrictions. Callers hold s.mu.
func (s *Server) fileByID(a *authInfo, capability, id string, notFound *apiErr) (*fileVersion, *apiErr) {
	if !validFileID(id) {
		return nil, badRequest("Invalid fileId: %s", id)
	}
	f := s.st.files[id]
	if f == nil {
		return nil, notFound
	}
	if a != nil {
		if e := a.check(capability, f.BucketID, &f.Name); e != nil {
			return nil, e
		}
	}
	return f, nil
}

func (s *Server) apiGetFileInfo(c *call) (any, *apiErr) {
	id, e := c.p.reqStr("fileId")
	if e != nil {
		return nil, e
	}
	if e := c.auth.check("readFiles", "", nil); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f, e := s.fileByID(c.auth, "readFiles", id, errf(404, "not_found", "file not found: %s", id))
	if e != nil {
		return nil, e
	}
	if f.Action == "start" {
		return nil, badRequest("file %s is an unfinished large file", id)
	}
	return s.fileJSON(f, false, c.auth.key), nil
}

func (s *Server) apiHideFile(c *call) (any, *apiErr) {
	bucketID, e := c.p.reqStr("bucketId")
	if e != nil {
		return nil, e
	}
	name, e := c.p.reqStr("fileName")
	if e != nil {
		return nil, e
	}
	if e := c.auth.check("writeFiles", bucketID, &name); e != nil {
		return nil, e
	}
	if e := validateFileName(name, true); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b, e := s.bucketFor(c.auth, bucketID)
	if e != nil {
		return nil, e
	}
	ent := b.byName[name]
	if ent == nil || ent.current() == nil {
		return nil, errf(400, "no_such_file", "File not present: %s", name)
	}
	if ent.current().Action == "hide" {
		return nil, errf(400, "already_hidden", "File already hidden: %s", name)
	}
	ms := s.nowMillis()
	id, seq := s.newFileID(b.ID, ms)
	f := &fileVersion{ID: id, Seq: seq, BucketID: b.ID, Name: name, Action: "hide",
		ContentType: "application/x-bz-hide-marker", SHA1: emptySHA1, MD5: emptyMD5,
		Info: map[string]string{}, TS: ms}
	b.insert(f)
	s.st.files[id] = f
	s.journalFile(f)
	return s.fileJSON(f, false, c.auth.key), nil
}

func (s *Server) apiDeleteFileVersion(c *call) (any, *apiErr) {
	name, e := c.p.reqStr("fileName")
	if e != nil {
		return nil, e
	}
	id, e := c.p.reqStr("fileId")
	if e != nil {
		return nil, e
	}
	if _, _, e := c.p.boolean("bypassGovernance"); e != nil {
		return nil, e
	}
	if e := c.auth.check("deleteFiles", "", &name); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	notPresent := errf(400, "file_not_present", "File not present: %s %s", name, id)
	f, e := s.fileByID(c.auth, "deleteFiles", id, notPresent)
	if e != nil {
		return nil, e
	}
	if f.Name != name {
		return nil, notPresent
	}
	b := s.st.buckets[f.BucketID]
	if b == nil {
		return nil, notPresent
	}
	s.dropVersion(b, f)
	return map[string]any{"fileId": id, "fileName": name}, nil
}

// addUploadToken registers an upload URL's token, dropping dead ones now
// and then so long runs do not accumulate them. Callers hold s.mu.
func (s *Server) addUploadToken(u *uploadTarget) string {
	tok := fmt.Sprintf("4_%s_%s_upld_%s", s.opts.AccountID, randHex(8), randAlnum(32))
	s.st.uploadTokens[tok] = u
	s.st.uploadTokenAdds++
	if s.st.uploadTokenAdds%4096 == 0 {
		now := s.now()
		for t, v := range s.st.uploadTokens {
			if v.busy {
				continue
			}
			dead := v.expired || !now.Before(v.expires)
			if v.kind == "part" {
				f := s.st.files[v.fileID]
				dead = dead || f == nil || f.Action != "start"
			} else if s.st.buckets[v.bucketID] == nil {
				dead = true
			}
			if dead {
				delete(s.st.uploadTokens, t)
			}
		}
	}
	return tok
}
