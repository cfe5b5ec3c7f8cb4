package b2emu

import (
	"crypto/md5"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
)

func (s *Server) apiStartLargeFile(c *call) (any, *apiErr) {
	bucketID, e := c.p.reqStr("bucketId")
	if e != nil {
		return nil, e
	}
	name, e := c.p.reqStr("fileName")
	if e != nil {
		return nil, e
	}
	ctype, e := c.p.reqStr("contentType")
	if e != nil {
		return nil, e
	}
	if !validContentType(ctype) {
		return nil, badRequest("invalid contentType %q", ctype)
	}
	if e := validateFileName(name, s.opts.RelaxedNames); e != nil {
		return nil, e
	}
	if ctype == "b2/x-auto" {
		ctype = autoContentType(name)
	}
	rawInfo, _, e := c.p.strMap("fileInfo")
	if e != nil {
		return nil, e
	}
	info, e := validateInfoMap(rawInfo, s.opts.MaxInfoHeaders, name)
	if e != nil {
		return nil, e
	}
	sse, e := sseParam(c.p, "serverSideEncryption")
	if e != nil {
		return nil, e
	}
	if e := c.auth.check("writeFiles", bucketID, &name); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b, e := s.bucketFor(c.auth, bucketID)
	if e != nil {
		return nil, e
	}
	ms := s.nowMillis()
	id, seq := s.newFileID(b.ID, ms)
	f := &fileVersion{ID: id, Seq: seq, BucketID: b.ID, Name: name, Action: "start",
		ContentType: ctype, SHA1: "none", Info: info, TS: ms, Large: true, SSE: sse,
		parts: map[int]*part{}}
	b.insert(f)
	s.st.files[id] = f
	s.journalFile(f)
	return s.fileJSON(f, false, c.auth.key), nil
}

// sseParam reads an optional serverSideEncryption object; only SSE-B2 is
// supported.
func sseParam(p params, k string) (string, *apiErr) {
	raw, ok := p.m[k]
	if !ok {
		return "", nil
	}
	var v struct {
		Mode      *string `json:"mode"`
		Algorithm *string `json:"algorithm"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", badRequest("%s must be an object", k)
	}
	if v.Mode == nil {
		return "", nil
	}
	if *v.Mode != "SSE-B2" {
		return "", badRequest("%s mode %q is not supported", k, *v.Mode)
	}
	return "SSE-B2", nil
}

// unfinishedByID finds an unfinished large file. Callers hold s.mu.
func (s *Server) unfinishedByID(a *authInfo, id string) (*fileVersion, *apiErr) {
	f, e := s.fileByID(a, "writeFiles", id, badRequest("Invalid fileId: %s", id))
	if e != nil {
		return nil, e
	}
	if f.Action != "start" {
		return nil, badRequest("file %s is not an unfinished large file", id)
	}
	return f, nil
}

// withUnfinished authorizes a writeFiles call on the unfinished large file id
// and runs fn on it with s.mu held.
func (s *Server) withUnfinished(c *call, id string, fn func(f *fileVersion) (any, *apiErr)) (any, *apiErr) {
	if e := c.auth.check("writeFiles", "", nil); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f, e := s.unfinishedByID(c.auth, id)
	if e != nil {
		return nil, e
	}
	return fn(f)
}

func (s *Server) apiGetUploadPartURL(c *call) (any, *apiErr) {
	id, e := c.p.reqStr("fileId")
	if e != nil {
		return nil, e
	}
	return s.withUnfinished(c, id, func(f *fileVersion) (any, *apiErr) {
		u := &uploadTarget{kind: "part", bucketID: f.BucketID, fileID: id, opaque: randHex(6),
			keyID: c.auth.key.ID, expires: s.now().Add(s.opts.TokenLifetime)}
		tok := s.addUploadToken(u)
		return map[string]any{
			"authorizationToken": tok,
			"fileId":             id,
			"uploadUrl":          fmt.Sprintf("http://%s/b2api/v%d/b2_upload_part/%s/%s", c.r.Host, c.route.version, id, u.opaque),
		}, nil
	})
}

func partJSON(fileID string, p *part, sse string) map[string]any {
	out := map[string]any{
		"contentLength": p.Size, "contentMd5": p.MD5, "contentSha1": p.SHA1, "fileId": fileID,
		"partNumber": p.Number, "serverSideEncryption": map[string]any{"algorithm": nil, "mode": nil},
		"uploadTimestamp": p.TS,
	}
	if sse != "" {
		out["serverSideEncryption"] = map[string]any{"algorithm": "AES256", "mode": sse}
	}
	return out
}

func parsePartNumber(v string) (int, *apiErr) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 1 || n > 10000 {
		return 0, badRequest("Part number must be in range 1 - 10000")
	}
	return n, nil
}

func (s *Server) uploadPart(c *call, u *uploadTarget, k *appKey) (any, *apiErr) {
	r := c.r
	if e := s.testModeUpload(r); e != nil {
		return nil, e
	}
	num, e := parsePartNumber(r.Header.Get("X-Bz-Part-Number"))
	if e != nil {
		return nil, e
	}
	bs, e := s.parseBodySpec(r)
	if e != nil {
		return nil, e
	}
	s.mu.Lock()
	f, e := s.unfinishedByID(&authInfo{key: k}, u.fileID)
	s.mu.Unlock()
	if e != nil {
		return nil, e
	}
	blob, sha, md, e := s.readBody(r, bs)
	if e != nil {
		return nil, e
	}
	sha = strings.TrimPrefix(sha, "unverified:")
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.storePart(f, num, blob, bs.length, sha, md)
}

// storePart records a part, replacing an earlier one of the same number.
// Callers hold s.mu.
func (s *Server) storePart(f *fileVersion, num int, blob string, size int64, sha, md string) (any, *apiErr) {
	if f.deleted || f.Action != "start" {
		s.removeBlobs([]string{blob})
		return nil, badRequest("large file %s is no longer unfinished", f.ID)
	}
	if old := f.parts[num]; old != nil {
		s.removeBlobs([]string{old.Blob})
	}
	p := &part{Number: num, Blob: blob, Size: size, SHA1: sha, MD5: md, TS: s.nowMillis()}
	f.parts[num] = p
	s.journalWrite(&record{T: "part", ID: f.ID, Part: p})
	return partJSON(f.ID, p, f.SSE), nil
}

func (s *Server) apiListParts(c *call) (any, *apiErr) {
	id, e := c.p.reqStr("fileId")
	if e != nil {
		return nil, e
	}
	start, _, e := c.p.int("startPartNumber")
	if e != nil {
		return nil, e
	}
	max, e := listMax(c.p, "maxPartCount", 100, 1000)
	if e != nil {
		return nil, e
	}
	return s.withUnfinished(c, id, func(f *fileVersion) (any, *apiErr) {
		nums := make([]int, 0, len(f.parts))
		for n := range f.parts {
			if int64(n) >= start {
				nums = append(nums, n)
			}
		}
		sort.Ints(nums)
		parts := []map[string]any{}
		var next any
		for _, n := range nums {
			if int64(len(parts)) >= max {
				next = n
				break
			}
			parts = append(parts, partJSON(f.ID, f.parts[n], f.SSE))
		}
		return map[string]any{"parts": parts, "nextPartNumber": next}, nil
	})
}

func (s *Server) apiFinishLargeFile(c *call) (any, *apiErr) {
	id, e := c.p.reqStr("fileId")
	if e != nil {
		return nil, e
	}
	shas, ok, e := c.p.strs("partSha1Array")
	if e != nil {
		return nil, e
	}
	if !ok {
		return nil, badRequest("required field partSha1Array is missing")
	}
	return s.withUnfinished(c, id, func(f *fileVersion) (any, *apiErr) {
		if len(shas) == 0 {
			return nil, badRequest("partSha1Array must not be empty")
		}
		if len(shas) < 2 && !s.opts.AllowSinglePartLargeFile {
			return nil, badRequest("large files must have at least 2 parts")
		}
		order := make([]int, 0, len(shas))
		var total int64
		for i, sh := range shas {
			n := i + 1
			p := f.parts[n]
			if p == nil {
				return nil, errf(400, "missing_part", "Part %d has not been uploaded", n)
			}
			if !strings.EqualFold(sh, p.SHA1) {
				return nil, errf(400, "part_sha1_mismatch", "Part %d SHA-1 %s does not match the uploaded part (%s)", n, sh, p.SHA1)
			}
			if n < len(shas) && p.Size < s.opts.AbsoluteMinimumPartSize {
				return nil, badRequest("Part number %d is smaller than the minimum part size of %d bytes", n, s.opts.AbsoluteMinimumPartSize)
			}
			order = append(order, n)
			total += p.Size
		}
		if len(f.parts) > len(shas) {
			return nil, badRequest("partSha1Array has %d entries but %d parts were uploaded", len(shas), len(f.parts))
		}
		f.Action = "upload"
		f.Size = total
		f.PartOrder = order
		b := s.st.buckets[f.BucketID]
		if b != nil {
			b.dropUnfinished(f)
		}
		s.journalFile(f)
		return s.fileJSON(f, false, c.auth.key), nil
	})
}

func (s *Server) apiCancelLargeFile(c *call) (any, *apiErr) {
	id, e := c.p.reqStr("fileId")
	if e != nil {
		return nil, e
	}
	return s.withUnfinished(c, id, func(f *fileVersion) (any, *apiErr) {
		if b := s.st.buckets[f.BucketID]; b != nil {
			s.dropVersion(b, f)
		}
		return map[string]any{"accountId": s.opts.AccountID, "bucketId": f.BucketID, "fileId": f.ID, "fileName": f.Name}, nil
	})
}

// parseCopyRange parses "bytes=a-b" of a copy call against the source size.
func parseCopyRange(rng string, size int64) (int64, int64, *apiErr) {
	if rng == "" {
		return 0, size, nil
	}
	spec, ok := strings.CutPrefix(rng, "bytes=")
	a, b, ok2 := strings.Cut(spec, "-")
	start, err1 := strconv.ParseInt(a, 10, 64)
	end, err2 := strconv.ParseInt(b, 10, 64)
	if !ok || !ok2 || err1 != nil || err2 != nil || start < 0 || end < start {
		return 0, 0, badRequest("invalid range %q: want bytes=<first>-<last>", rng)
	}
	if start >= size {
		return 0, 0, errf(416, "range_not_satisfiable", "range %q starts beyond the source's %d bytes", rng, size)
	}
	end = min(end, size-1)
	return start, end - start + 1, nil
}

// copyToBlob copies length bytes at off of src into a new blob. src must be
// acquired; no lock is held.
func (s *Server) copyToBlob(src *fileVersion, off, length int64) (blob, sha, md string, err error) {
	if length == 0 {
		return "", emptySHA1, emptyMD5, nil
	}
	blob = "b-" + randHex(12)
	fh, err := os.OpenFile(s.blobPath(blob), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return "", "", "", err
	}
	h1, h5 := sha1.New(), md5.New()
	err = s.copyRange(io.MultiWriter(fh, h1, h5), src, off, length)
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(s.blobPath(blob))
		return "", "", "", err
	}
	return blob, hex.EncodeToString(h1.Sum(nil)), hex.EncodeToString(h5.Sum(nil)), nil
}

// copySource finds and authorizes a copy source and acquires it.
// Callers hold s.mu.
func (s *Server) copySource(a *authInfo, id string) (*fileVersion, *apiErr) {
	if !validFileID(id) {
		return nil, badRequest("Invalid sourceFileId: %s", id)
	}
	f := s.st.files[id]
	if f == nil || f.Action != "upload" {
		return nil, errf(404, "not_found", "source file not found: %s", id)
	}
	sb := s.st.buckets[f.BucketID]
	if sb == nil {
		return nil, errf(404, "not_found", "source file not found: %s", id)
	}
	if e := a.check("", f.BucketID, &f.Name); e != nil {
		return nil, e
	}
	if sb.Type != "allPublic" {
		if e := a.check("readFiles", "", nil); e != nil {
			return nil, e
		}
	}
	return f, nil
}

func (s *Server) apiCopyFile(c *call) (any, *apiErr) {
	srcID, e := c.p.reqStr("sourceFileId")
	if e != nil {
		return nil, e
	}
	name, e := c.p.reqStr("fileName")
	if e != nil {
		return nil, e
	}
	if e := validateFileName(name, s.opts.RelaxedNames); e != nil {
		return nil, e
	}
	dstID, hasDst, e := c.p.str("destinationBucketId")
	if e != nil {
		return nil, e
	}
	rng, _, e := c.p.str("range")
	if e != nil {
		return nil, e
	}
	directive, hasDirective, e := c.p.str("metadataDirective")
	if e != nil {
		return nil, e
	}
	if !hasDirective {
		directive = "COPY"
	}
	ctype, hasType, e := c.p.str("contentType")
	if e != nil {
		return nil, e
	}
	rawInfo, hasInfo, e := c.p.strMap("fileInfo")
	if e != nil {
		return nil, e
	}
	switch directive {
	case "COPY":
		if hasType || hasInfo {
			return nil, badRequest("contentType and fileInfo must not be set with metadataDirective COPY")
		}
	case "REPLACE":
		if !hasType {
			return nil, badRequest("contentType is required with metadataDirective REPLACE")
		}
		if !validContentType(ctype) {
			return nil, badRequest("invalid contentType %q", ctype)
		}
		if ctype == "b2/x-auto" {
			ctype = autoContentType(name)
		}
	default:
		return nil, badRequest("metadataDirective must be COPY or REPLACE")
	}
	var info map[string]string
	if directive == "REPLACE" {
		if info, e = validateInfoMap(rawInfo, s.opts.MaxInfoHeaders, name); e != nil {
			return nil, e
		}
	}
	if e := c.auth.check("writeFiles", "", &name); e != nil {
		return nil, e
	}
	s.mu.Lock()
	src, e := s.copySource(c.auth, srcID)
	if e != nil {
		s.mu.Unlock()
		return nil, e
	}
	if !hasDst {
		dstID = src.BucketID
	}
	if _, e := s.bucketFor(c.auth, dstID); e != nil {
		s.mu.Unlock()
		return nil, e
	}
	off, length, e := parseCopyRange(rng, src.Size)
	if e == nil && length > s.opts.MaxFileSize {
		e = errf(400, "source_too_large", "Copy source too big: %d", length)
	}
	if e != nil {
		s.mu.Unlock()
		return nil, e
	}
	if directive == "COPY" {
		ctype = src.ContentType
		info = map[string]string{}
		for k, v := range src.Info {
			info[k] = v
		}
	}
	s.acquire(src)
	s.mu.Unlock()
	blob, sha, md, err := s.copyToBlob(src, off, length)
	s.release(src)
	if err != nil {
		return nil, errf(500, "internal_error", "copy: %v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.st.buckets[dstID]
	if b == nil {
		s.removeBlobs([]string{blob})
		return nil, errf(400, "bad_bucket_id", "Bucket %s does not exist", dstID)
	}
	f := s.addUpload(b, name, ctype, info, blob, length, sha, md)
	s.journalFile(f)
	out := s.fileJSON(f, false, c.auth.key)
	out.Action = "copy"
	return out, nil
}

func (s *Server) apiCopyPart(c *call) (any, *apiErr) {
	srcID, e := c.p.reqStr("sourceFileId")
	if e != nil {
		return nil, e
	}
	largeID, e := c.p.reqStr("largeFileId")
	if e != nil {
		return nil, e
	}
	num, ok, e := c.p.int("partNumber")
	if e != nil {
		return nil, e
	}
	if !ok {
		return nil, badRequest("required field partNumber is missing")
	}
	if num < 1 || num > 10000 {
		return nil, badRequest("Part number must be in range 1 - 10000")
	}
	rng, _, e := c.p.str("range")
	if e != nil {
		return nil, e
	}
	if e := c.auth.check("writeFiles", "", nil); e != nil {
		return nil, e
	}
	s.mu.Lock()
	large, e := s.unfinishedByID(c.auth, largeID)
	if e != nil {
		s.mu.Unlock()
		return nil, e
	}
	src, e := s.copySource(c.auth, srcID)
	if e != nil {
		s.mu.Unlock()
		return nil, e
	}
	off, length, e := parseCopyRange(rng, src.Size)
	if e == nil && length > s.opts.MaxFileSize {
		e = errf(400, "source_too_large", "Copy source too big: %d", length)
	}
	if e != nil {
		s.mu.Unlock()
		return nil, e
	}
	s.acquire(src)
	s.mu.Unlock()
	blob, sha, md, err := s.copyToBlob(src, off, length)
	s.release(src)
	if err != nil {
		return nil, errf(500, "internal_error", "copy: %v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.storePart(large, int(num), blob, length, sha, md)
}
