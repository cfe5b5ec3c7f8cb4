package b2emu

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

var settableBucketTypes = map[string]bool{"allPublic": true, "allPrivate": true}
var knownBucketTypes = map[string]bool{
	"allPublic": true, "allPrivate": true, "snapshot": true, "shared": true, "restricted": true,
}

func validateBucketName(name string) *apiErr {
	if len(name) < 6 {
		return errf(400, "invalid_bucket_name", "bucket name must be at least 6 characters long")
	}
	if len(name) > 63 {
		return errf(400, "invalid_bucket_name", "bucket name is too long")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return errf(400, "invalid_bucket_name", "bucket name may contain only letters, digits and '-'")
		}
	}
	if strings.HasPrefix(strings.ToLower(name), "b2-") {
		return errf(400, "invalid_bucket_name", "bucket names beginning with 'b2-' are reserved")
	}
	return nil
}

func (s *Server) bucketJSON(b *bucket, k *appKey) map[string]any {
	info := map[string]string{}
	for k, v := range b.Info {
		info[k] = v
	}
	cors := b.CORS
	if cors == nil {
		cors = json.RawMessage("[]")
	}
	lc := b.Lifecycle
	if lc == nil {
		lc = json.RawMessage("[]")
	}
	sse := b.SSE
	if sse == nil {
		sse = json.RawMessage(`{"algorithm":null,"mode":null}`)
	}
	encryption := map[string]any{"isClientAuthorizedToRead": true, "value": sse}
	if !k.has("readBucketEncryption") {
		encryption = map[string]any{"isClientAuthorizedToRead": false, "value": nil}
	}
	fileLock := map[string]any{
		"isClientAuthorizedToRead": true,
		"value": map[string]any{
			"defaultRetention":  map[string]any{"mode": nil, "period": nil},
			"isFileLockEnabled": b.FileLock,
		},
	}
	if !k.has("readBucketRetentions") {
		fileLock = map[string]any{"isClientAuthorizedToRead": false, "value": nil}
	}
	return map[string]any{
		"accountId":                   s.opts.AccountID,
		"bucketId":                    b.ID,
		"bucketInfo":                  info,
		"bucketName":                  b.Name,
		"bucketType":                  b.Type,
		"corsRules":                   cors,
		"defaultServerSideEncryption": encryption,
		"fileLockConfiguration":       fileLock,
		"lifecycleRules":              lc,
		"options":                     []string{"s3"},
		"revision":                    b.Revision,
	}
}

// bucketSettings are the optional fields of create/update.
type bucketSettings struct {
	typ       *string
	info      map[string]string
	cors      json.RawMessage
	lifecycle json.RawMessage
	sse       json.RawMessage
	fileLock  *bool
}

func parseBucketSettings(p params) (bucketSettings, *apiErr) {
	var bs bucketSettings
	if t, ok, e := p.str("bucketType"); e != nil {
		return bs, e
	} else if ok {
		if !settableBucketTypes[t] {
			return bs, badRequest("bucketType must be allPublic or allPrivate, not %q", t)
		}
		bs.typ = &t
	}
	if m, ok, e := p.strMap("bucketInfo"); e != nil {
		return bs, e
	} else if ok {
		if len(m) > 10 {
			return bs, badRequest("bucketInfo may have at most 10 entries")
		}
		bs.info = m
	}
	if a, ok, e := p.array("corsRules"); e != nil {
		return bs, e
	} else if ok {
		bs.cors = a
	}
	if a, ok, e := p.array("lifecycleRules"); e != nil {
		return bs, e
	} else if ok {
		var rules []json.RawMessage
		_ = json.Unmarshal(a, &rules)
		if len(rules) > 100 {
			return bs, badRequest("at most 100 lifecycle rules")
		}
		bs.lifecycle = a
	}
	if raw, ok := p.m["defaultServerSideEncryption"]; ok {
		var m map[string]any
		if json.Unmarshal(raw, &m) != nil {
			return bs, badRequest("defaultServerSideEncryption must be an object")
		}
		bs.sse = raw
	}
	if b, ok, e := p.boolean("fileLockEnabled"); e != nil {
		return bs, e
	} else if ok {
		bs.fileLock = &b
	}
	return bs, nil
}

func (bs bucketSettings) apply(b *bucket) {
	if bs.typ != nil {
		b.Type = *bs.typ
	}
	if bs.info != nil {
		b.Info = bs.info
	}
	if bs.cors != nil {
		b.CORS = bs.cors
	}
	if bs.lifecycle != nil {
		b.Lifecycle = bs.lifecycle
	}
	if bs.sse != nil {
		b.SSE = bs.sse
	}
	if bs.fileLock != nil && *bs.fileLock {
		b.FileLock = true
	}
}

// createBucket creates a bucket. Callers hold s.mu.
func (s *Server) createBucket(name string, bs bucketSettings) (*bucket, *apiErr) {
	if e := validateBucketName(name); e != nil {
		return nil, e
	}
	if s.st.bucketNames[strings.ToLower(name)] != nil {
		return nil, errf(400, "duplicate_bucket_name", "Bucket name is already in use.")
	}
	if len(s.st.buckets) >= s.opts.MaxBuckets {
		return nil, errf(400, "too_many_buckets", "Account already has %d buckets", len(s.st.buckets))
	}
	b := &bucket{ID: randHex(12), Type: "allPrivate", Name: name, Revision: 1}
	b.init()
	bs.apply(b)
	s.st.buckets[b.ID] = b
	s.st.bucketNames[strings.ToLower(name)] = b
	s.journalBucket(b)
	return b, nil
}

// CreateBucket creates a bucket of type bucketType ("" = allPrivate).
func (s *Server) CreateBucket(name, bucketType string) (string, error) {
	if bucketType == "" {
		bucketType = "allPrivate"
	}
	if !settableBucketTypes[bucketType] {
		return "", fmt.Errorf("b2emu: bucket type %q", bucketType)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b, e := s.createBucket(name, bucketSettings{typ: &bucketType})
	if e != nil {
		return "", e
	}
	return b.ID, nil
}

// BucketID returns the id of the named bucket.
func (s *Server) BucketID(name string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.st.bucketNames[strings.ToLower(name)]
	if b == nil || b.Name != name {
		return "", false
	}
	return b.ID, true
}

// checkBucketAdmin authorizes an account-wide bucket call (verb is "create",
// "update" or "delete"): the key must not be restricted to a bucket, must have
// capability and must belong to the account the call names.
func (s *Server) checkBucketAdmin(c *call, verb, capability string) *apiErr {
	if c.auth.key.BucketID != "" {
		return unauthorized("a key restricted to a bucket cannot %s buckets", verb)
	}
	if e := c.auth.check(capability, "", nil); e != nil {
		return e
	}
	return s.checkAccount(c)
}

func (s *Server) apiCreateBucket(c *call) (any, *apiErr) {
	if e := s.checkBucketAdmin(c, "create", "writeBuckets"); e != nil {
		return nil, e
	}
	name, e := c.p.reqStr("bucketName")
	if e != nil {
		return nil, e
	}
	if _, e := c.p.reqStr("bucketType"); e != nil {
		return nil, e
	}
	bs, e := parseBucketSettings(c.p)
	if e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b, e := s.createBucket(name, bs)
	if e != nil {
		return nil, e
	}
	return s.bucketJSON(b, c.auth.key), nil
}

func (s *Server) apiListBuckets(c *call) (any, *apiErr) {
	if e := c.auth.check("listBuckets", "", nil); e != nil {
		return nil, e
	}
	if e := s.checkAccount(c); e != nil {
		return nil, e
	}
	id, hasID, e := c.p.str("bucketId")
	if e != nil {
		return nil, e
	}
	name, hasName, e := c.p.str("bucketName")
	if e != nil {
		return nil, e
	}
	types, hasTypes, e := c.p.strs("bucketTypes")
	if e != nil {
		return nil, e
	}
	want := map[string]bool{"allPublic": true, "allPrivate": true, "snapshot": true}
	if hasTypes {
		if len(types) == 0 {
			return nil, badRequest("bucketTypes must not be empty")
		}
		want = map[string]bool{}
		for _, t := range types {
			if t == "all" {
				if len(types) != 1 {
					return nil, badRequest("bucketTypes \"all\" cannot be combined with other types")
				}
				want = nil
				break
			}
			if !knownBucketTypes[t] {
				return nil, badRequest("unknown bucket type %q", t)
			}
			want[t] = true
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := c.auth.key
	if k.BucketID != "" {
		if c.route.version == 1 && !hasID && !hasName {
			id, hasID = k.BucketID, true
		}
		matches := (hasID && id == k.BucketID) ||
			(hasName && s.st.buckets[k.BucketID] != nil && s.st.buckets[k.BucketID].Name == name)
		if !matches {
			return nil, unauthorized("application key is restricted to bucket %s; name it in bucketId or bucketName", k.BucketID)
		}
	}
	out := []map[string]any{}
	var list []*bucket
	for _, b := range s.st.buckets {
		if hasID && b.ID != id || hasName && b.Name != name {
			continue
		}
		if want != nil && !want[b.Type] {
			continue
		}
		list = append(list, b)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	for _, b := range list {
		out = append(out, s.bucketJSON(b, c.auth.key))
	}
	return map[string]any{"buckets": out}, nil
}

func (s *Server) apiUpdateBucket(c *call) (any, *apiErr) {
	if e := s.checkBucketAdmin(c, "update", "writeBuckets"); e != nil {
		return nil, e
	}
	id, e := c.p.reqStr("bucketId")
	if e != nil {
		return nil, e
	}
	bs, e := parseBucketSettings(c.p)
	if e != nil {
		return nil, e
	}
	rev, hasRev, e := c.p.int("ifRevisionIs")
	if e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b, e := s.bucketFor(nil, id)
	if e != nil {
		return nil, e
	}
	if hasRev && rev != b.Revision {
		return nil, errf(409, "conflict", "simultaneous updates to bucket")
	}
	bs.apply(b)
	b.Revision++
	s.journalBucket(b)
	return s.bucketJSON(b, c.auth.key), nil
}

func (s *Server) apiDeleteBucket(c *call) (any, *apiErr) {
	if e := s.checkBucketAdmin(c, "delete", "deleteBuckets"); e != nil {
		return nil, e
	}
	id, e := c.p.reqStr("bucketId")
	if e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b, e := s.bucketFor(nil, id)
	if e != nil {
		return nil, e
	}
	if b.versions > 0 {
		return nil, errf(400, "cannot_delete_non_empty_bucket", "Bucket %s is not empty", b.Name)
	}
	delete(s.st.buckets, id)
	delete(s.st.bucketNames, strings.ToLower(b.Name))
	b.Revision++
	s.journalWrite(&record{T: "bucketdel", ID: id})
	return s.bucketJSON(b, c.auth.key), nil
}

// bucketFor looks up a bucket by id for a file call, enforcing the key's
// bucket restriction first (a nil a skips it). Callers hold s.mu.
func (s *Server) bucketFor(a *authInfo, id string) (*bucket, *apiErr) {
	if a != nil && a.key.BucketID != "" && a.key.BucketID != id {
		return nil, unauthorized("application key is restricted to bucket %s", a.key.BucketID)
	}
	b := s.st.buckets[id]
	if b == nil {
		return nil, errf(400, "bad_bucket_id", "Bucket %s does not exist", id)
	}
	return b, nil
}
