package b2emu

import (
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
)

// serveDownload serves b2_download_file_by_name and b2_download_file_by_id.
func (s *Server) serveDownload(c *call) {
	r := c.r
	byID := c.route.api == "b2_download_file_by_id"
	if !(r.Method == http.MethodGet || r.Method == http.MethodHead || byID && r.Method == http.MethodPost) {
		writeErr(c.w, r, errf(405, "method_not_allowed", "method %s not allowed", r.Method))
		return
	}
	f, e := s.resolveDownload(c, byID)
	if e != nil {
		writeErr(c.w, r, e)
		return
	}
	defer s.release(f)
	s.writeDownload(c, f)
}

// resolveDownload finds and authorizes the version to download and
// acquires it for reading.
func (s *Server) resolveDownload(c *call, byID bool) (*fileVersion, *apiErr) {
	r := c.r
	var id, bucketName, name string
	if byID {
		p, e := parseParams(r)
		if e != nil {
			return nil, e
		}
		if id, e = p.reqStr("fileId"); e != nil {
			return nil, e
		}
		if !validFileID(id) {
			return nil, badRequest("Invalid fileId: %s", id)
		}
	} else {
		rest := strings.TrimPrefix(r.URL.EscapedPath(), "/file/")
		bn, rawName, ok := strings.Cut(rest, "/")
		if !ok || rawName == "" {
			return nil, errf(404, "not_found", "no file name in download URL")
		}
		var ok1, ok2 bool
		bucketName, ok1 = percentDecode(bn)
		name, ok2 = percentDecode(rawName)
		if !ok1 || !ok2 {
			return nil, badRequest("download URL is not valid percent-encoded UTF-8")
		}
	}
	tok := c.tokenFromRequest(true)

	s.mu.Lock()
	defer s.mu.Unlock()
	var f *fileVersion
	var b *bucket
	if byID {
		f = s.st.files[id]
		if f == nil || f.Action != "upload" {
			return nil, errf(404, "not_found", "file not found: %s", id)
		}
		b = s.st.buckets[f.BucketID]
	} else {
		b = s.st.bucketNames[strings.ToLower(bucketName)]
		if b == nil || b.Name != bucketName {
			return nil, errf(404, "not_found", "bucket %s does not exist", bucketName)
		}
	}
	if b == nil {
		return nil, errf(404, "not_found", "file not found")
	}
	if b.Type != "allPublic" {
		if e := s.downloadAllowed(c, tok, b, byID, name, f); e != nil {
			return nil, e
		}
	}
	if !byID {
		ent := b.byName[name]
		if ent == nil || !ent.visible() {
			return nil, errf(404, "not_found", "File with such name does not exist: %s", name)
		}
		f = ent.current()
	}
	s.acquire(f)
	return f, nil
}

// downloadAllowed checks the token of a private-bucket download. Callers
// hold s.mu. For by-id downloads f is known; for by-name name is.
func (s *Server) downloadAllowed(c *call, tok string, b *bucket, byID bool, name string, f *fileVersion) *apiErr {
	if tok == "" {
		return errf(401, "missing_auth_token", "Missing Authorization header or query parameter")
	}
	if byID {
		name = f.Name
	}
	if d := s.st.dlTokens[tok]; d != nil {
		if byID {
			return unauthorized("download authorization tokens only work for downloads by name")
		}
		if !s.now().Before(d.expires) {
			return errf(401, "expired_auth_token", "download authorization has expired")
		}
		k := s.findKey(d.keyID)
		if k == nil {
			return errf(401, "expired_auth_token", "download authorization's key was deleted")
		}
		if d.bucketID != b.ID || !strings.HasPrefix(name, d.prefix) {
			return unauthorized("download authorization does not cover %s", name)
		}
		q := c.r.URL.Query()
		for k, v := range d.overrides {
			if q.Get(k) != v {
				return unauthorized("download must repeat %s of its authorization", k)
			}
		}
		return nil
	}
	t := s.st.tokens[tok]
	if t == nil {
		return errf(401, "bad_auth_token", "Invalid authorization token")
	}
	now := s.now()
	k := s.findKey(t.keyID)
	if t.expired || !now.Before(t.expires) || k == nil || (k.Expires > 0 && now.UnixMilli() >= k.Expires) {
		return errf(401, "expired_auth_token", "Authorization token has expired")
	}
	a := &authInfo{key: k, token: tok}
	return a.check("readFiles", b.ID, &name)
}

// byteRange is the outcome of parsing a Range header against a size.
type byteRange struct {
	partial     bool // 206
	start, end  int64
	unsatisfied bool // 416
}

// parseRange applies B2's Range rules: one bytes= range; invalid syntax,
// b < a and multiple ranges return the whole file; a range covering the
// whole file is a 200; start ≥ size (and any range on an empty file) is 416.
func parseRange(h string, size int64) byteRange {
	whole := byteRange{start: 0, end: size - 1}
	spec, ok := strings.CutPrefix(strings.TrimSpace(h), "bytes=")
	if h == "" || !ok || strings.Contains(spec, ",") {
		return whole
	}
	a, b, ok := strings.Cut(strings.TrimSpace(spec), "-")
	if !ok {
		return whole
	}
	a, b = strings.TrimSpace(a), strings.TrimSpace(b)
	num := func(x string) (int64, bool) {
		if x == "" {
			return 0, false
		}
		for i := 0; i < len(x); i++ {
			if x[i] < '0' || x[i] > '9' {
				return 0, false
			}
		}
		n, err := strconv.ParseInt(x, 10, 64)
		return n, err == nil
	}
	var start, end int64
	switch {
	case a == "":
		k, ok := num(b)
		if !ok {
			return whole
		}
		if k == 0 || size == 0 {
			return byteRange{unsatisfied: true}
		}
		if k >= size {
			return whole
		}
		start, end = size-k, size-1
	default:
		sa, ok := num(a)
		if !ok {
			return whole
		}
		if b == "" {
			end = size - 1
		} else {
			eb, ok := num(b)
			if !ok || eb < sa {
				return whole
			}
			end = eb
		}
		if sa >= size {
			return byteRange{unsatisfied: true}
		}
		start = sa
		if end > size-1 {
			end = size - 1
		}
	}
	if start == 0 && end == size-1 {
		return whole
	}
	return byteRange{partial: true, start: start, end: end}
}

func (s *Server) writeDownload(c *call, f *fileVersion) {
	w, r := c.w, c.r
	rg := parseRange(r.Header.Get("Range"), f.Size)
	if rg.unsatisfied {
		writeErr(w, r, errf(416, "range_not_satisfiable", "The range is not satisfiable for a file of %d bytes", f.Size))
		return
	}
	h := w.Header()
	q := r.URL.Query()
	ctype := f.ContentType
	if v := q.Get("b2ContentType"); v != "" {
		ctype = v
	}
	h.Set("Content-Type", ctype)
	h.Set("Accept-Ranges", "bytes")
	h.Set("X-Bz-File-Id", f.ID)
	h.Set("X-Bz-File-Name", percentEncode(f.Name))
	sha := f.SHA1
	h.Set("X-Bz-Content-Sha1", sha)
	h.Set("X-Bz-Upload-Timestamp", strconv.FormatInt(f.TS, 10))
	keys := make([]string, 0, len(f.Info))
	for k := range f.Info {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := f.Info[k]
		if hdr, ok := reservedInfo[k]; ok {
			h.Set(hdr, v)
			continue
		}
		h["x-bz-info-"+k] = []string{percentEncode(v)}
	}
	if h.Get("Cache-Control") == "" {
		s.mu.Lock()
		if b := s.st.buckets[f.BucketID]; b != nil && b.Info["Cache-Control"] != "" {
			h.Set("Cache-Control", b.Info["Cache-Control"])
		}
		s.mu.Unlock()
	}
	for param, hdr := range map[string]string{
		"b2ContentDisposition": "Content-Disposition", "b2ContentLanguage": "Content-Language",
		"b2Expires": "Expires", "b2CacheControl": "Cache-Control", "b2ContentEncoding": "Content-Encoding",
	} {
		if v := q.Get(param); v != "" {
			h.Set(hdr, v)
		}
	}
	if f.SSE != "" {
		h.Set("X-Bz-Server-Side-Encryption", "AES256")
	}
	length := rg.end - rg.start + 1
	if f.Size == 0 {
		length = 0
	}
	h.Set("Content-Length", strconv.FormatInt(length, 10))
	status := 200
	if rg.partial {
		status = 206
		h.Set("Content-Range", "bytes "+strconv.FormatInt(rg.start, 10)+"-"+strconv.FormatInt(rg.end, 10)+"/"+strconv.FormatInt(f.Size, 10))
	}
	w.WriteHeader(status)
	if r.Method == http.MethodHead || length == 0 {
		return
	}
	if err := s.copyRange(w, f, rg.start, length); err != nil {
		s.log.Debug("b2emu: download aborted", "file", f.Name, "err", err)
	}
}

// copyRange streams length bytes starting at off of f's content to w.
// f must be acquired; no lock is held.
func (s *Server) copyRange(w io.Writer, f *fileVersion, off, length int64) error {
	s.mu.Lock()
	segs := f.segments()
	s.mu.Unlock()
	for _, seg := range segs {
		if length <= 0 {
			break
		}
		if off >= seg.size {
			off -= seg.size
			continue
		}
		n := min(seg.size-off, length)
		fh, err := os.Open(s.blobPath(seg.blob))
		if err != nil {
			return err
		}
		_, err = io.Copy(w, io.NewSectionReader(fh, off, n))
		fh.Close()
		if err != nil {
			return err
		}
		length -= n
		off = 0
	}
	if length > 0 {
		return io.ErrUnexpectedEOF
	}
	return nil
}
