package b2emu

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"time"
)

// appKey is an application key. The master key has every capability and no
// restriction.
type appKey struct {
	ID           string   `json:"id"`
	Secret       string   `json:"secret"`
	Name         string   `json:"name"`
	Capabilities []string `json:"caps"`
	BucketID     string   `json:"bucket,omitempty"`
	NamePrefix   *string  `json:"prefix,omitempty"`
	Expires      int64    `json:"expires,omitempty"` // ms; 0 = never
	master       bool
}

func (k *appKey) has(capability string) bool {
	for _, c := range k.Capabilities {
		if c == capability {
			return true
		}
	}
	return false
}

func (k *appKey) prefix() string {
	if k.NamePrefix == nil {
		return ""
	}
	return *k.NamePrefix
}

// accountToken is an account authorization token from b2_authorize_account.
type accountToken struct {
	keyID   string
	expires time.Time // emulator clock
	expired bool
}

// uploadTarget is an upload URL with its token.
type uploadTarget struct {
	kind     string // "file" or "part"
	bucketID string
	fileID   string // parts
	opaque   string
	keyID    string
	expires  time.Time
	expired  bool
	busy     bool
}

// downloadAuth is a token from b2_get_download_authorization.
type downloadAuth struct {
	bucketID  string
	prefix    string
	expires   time.Time
	overrides map[string]string
	keyID     string
}

// authInfo is the authenticated identity of a request.
type authInfo struct {
	key   *appKey
	token string
}

var capabilityNames = []string{
	"listKeys", "writeKeys", "deleteKeys", "listBuckets", "listAllBucketNames", "readBuckets",
	"writeBuckets", "deleteBuckets", "readBucketEncryption", "writeBucketEncryption",
	"readBucketRetentions", "writeBucketRetentions", "readFileRetentions", "writeFileRetentions",
	"readFileLegalHolds", "writeFileLegalHolds", "bypassGovernance", "readBucketReplications",
	"writeBucketReplications", "readBucketNotifications", "writeBucketNotifications",
	"readBucketLifecycleRules", "writeBucketLifecycleRules",
	"listFiles", "readFiles", "shareFiles", "writeFiles", "deleteFiles",
}

// bucketKeyCapabilities are the capabilities a bucket-restricted key may have.
var bucketKeyCapabilities = map[string]bool{
	"listAllBucketNames": true, "listBuckets": true, "readBuckets": true,
	"readBucketEncryption": true, "writeBucketEncryption": true, "readBucketRetentions": true,
	"writeBucketRetentions": true, "readBucketNotifications": true, "writeBucketNotifications": true,
	"readBucketLifecycleRules": true, "writeBucketLifecycleRules": true,
	"listFiles": true, "readFiles": true, "shareFiles": true, "writeFiles": true, "deleteFiles": true,
	"readFileLegalHolds": true, "writeFileLegalHolds": true, "readFileRetentions": true,
	"writeFileRetentions": true, "bypassGovernance": true,
}

func allCapabilities() []string { return append([]string(nil), capabilityNames...) }

func (s *Server) findKey(id string) *appKey {
	if id == s.st.masterKey.ID || id == s.opts.AccountID {
		return s.st.masterKey
	}
	return s.st.keys[id]
}

// authenticate checks an account token. Missing header ⇒ 401
// missing_auth_token; unknown ⇒ bad_auth_token; expired or belonging to a
// deleted or expired key ⇒ expired_auth_token.
func (s *Server) authenticate(r *http.Request, tok string) (*authInfo, *apiErr) {
	if tok == "" {
		return nil, errf(401, "missing_auth_token", "Missing Authorization header")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.st.tokens[tok]
	if t == nil {
		return nil, errf(401, "bad_auth_token", "Invalid authorization token")
	}
	now := s.now()
	k := s.findKey(t.keyID)
	if t.expired || !now.Before(t.expires) || k == nil || (k.Expires > 0 && now.UnixMilli() >= k.Expires) {
		return nil, errf(401, "expired_auth_token", "Authorization token has expired")
	}
	return &authInfo{key: k, token: tok}, nil
}

// check enforces a capability and the key's bucket and name-prefix
// restrictions. bucketID "" skips the bucket check; name is checked against
// the key's prefix when non-nil. Callers hold s.mu or not; it reads only the
// immutable key.
func (a *authInfo) check(capability, bucketID string, name *string) *apiErr {
	k := a.key
	if capability != "" && !k.has(capability) {
		return unauthorized("application key does not have capability %s", capability)
	}
	if k.BucketID != "" && bucketID != "" && bucketID != k.BucketID {
		return unauthorized("application key is restricted to bucket %s", k.BucketID)
	}
	if name != nil && k.NamePrefix != nil && !strings.HasPrefix(*name, *k.NamePrefix) {
		return unauthorized("application key is restricted to names starting with %q", *k.NamePrefix)
	}
	return nil
}

func (s *Server) apiAuthorize(c *call) (any, *apiErr) {
	r := c.r
	h := r.Header.Get("Authorization")
	raw, ok := strings.CutPrefix(h, "Basic ")
	if !ok {
		raw, ok = strings.CutPrefix(h, "basic ")
	}
	if !ok {
		return nil, unauthorized("authorize_account requires Basic authorization")
	}
	dec, err := base64.StdEncoding.DecodeString(strings.TrimSpace(raw))
	if err != nil {
		return nil, unauthorized("malformed Basic authorization")
	}
	id, secret, ok := strings.Cut(string(dec), ":")
	if !ok {
		return nil, unauthorized("malformed Basic authorization")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.findKey(id)
	if k == nil || k.Secret != secret {
		return nil, unauthorized("invalid application key id or key")
	}
	now := s.now()
	if k.Expires > 0 && now.UnixMilli() >= k.Expires {
		return nil, unauthorized("application key has expired")
	}
	tok := fmt.Sprintf("4_%s_%s_acct_%s", s.opts.AccountID, randHex(8), randAlnum(32))
	s.st.tokens[tok] = &accountToken{keyID: k.ID, expires: now.Add(s.opts.TokenLifetime)}

	base := "http://" + r.Host
	var bucketID, bucketName any
	if k.BucketID != "" {
		bucketID = k.BucketID
		if b := s.st.buckets[k.BucketID]; b != nil {
			bucketName = b.Name
		}
	}
	var prefix any
	if k.NamePrefix != nil {
		prefix = *k.NamePrefix
	}
	var expiration any
	if k.Expires > 0 {
		expiration = k.Expires
	}
	caps := append([]string{}, k.Capabilities...)
	switch c.route.version {
	case 1, 2:
		allowed := map[string]any{"bucketId": bucketID, "capabilities": caps, "namePrefix": prefix}
		if c.route.version == 2 {
			allowed["bucketName"] = bucketName
		}
		out := map[string]any{
			"absoluteMinimumPartSize": s.opts.AbsoluteMinimumPartSize,
			"accountId":               s.opts.AccountID,
			"allowed":                 allowed,
			"apiUrl":                  base,
			"authorizationToken":      tok,
			"downloadUrl":             base,
			"recommendedPartSize":     s.opts.RecommendedPartSize,
			"s3ApiUrl":                base,
		}
		if c.route.version == 1 {
			out["minimumPartSize"] = s.opts.RecommendedPartSize
		}
		return out, nil
	}
	storage := map[string]any{
		"absoluteMinimumPartSize": s.opts.AbsoluteMinimumPartSize,
		"apiUrl":                  base,
		"downloadUrl":             base,
		"infoType":                "storageApi",
		"recommendedPartSize":     s.opts.RecommendedPartSize,
		"s3ApiUrl":                base,
	}
	if c.route.version == 3 {
		storage["bucketId"] = bucketID
		storage["bucketName"] = bucketName
		storage["capabilities"] = caps
		storage["namePrefix"] = prefix
	} else {
		var buckets any
		if k.BucketID != "" {
			buckets = []map[string]any{{"id": bucketID, "name": bucketName}}
		}
		storage["allowed"] = map[string]any{"buckets": buckets, "capabilities": caps, "namePrefix": prefix}
	}
	apiInfo := map[string]any{"storageApi": storage}
	if s.opts.Partner {
		apiInfo["groupsApi"] = map[string]any{
			"capabilities": []string{"all"}, "groupsApiUrl": base, "infoType": "groupsApi",
		}
	}
	return map[string]any{
		"accountId":                         s.opts.AccountID,
		"apiInfo":                           apiInfo,
		"applicationKeyExpirationTimestamp": expiration,
		"authorizationToken":                tok,
	}, nil
}

func (s *Server) checkAccount(c *call) *apiErr {
	id, err := c.p.reqStr("accountId")
	if err != nil {
		return err
	}
	if id != s.opts.AccountID {
		return unauthorized("accountId %s does not match the authorized account", id)
	}
	return nil
}

var keyNameRE = regexp.MustCompile(`^[A-Za-z0-9-]{1,100}$`)

func keyJSON(k *appKey, accountID string, withSecret bool) map[string]any {
	out := map[string]any{
		"accountId":        accountID,
		"applicationKeyId": k.ID,
		"bucketId":         nil,
		"capabilities":     append([]string{}, k.Capabilities...),
		"expirationTimestamp": func() any {
			if k.Expires > 0 {
				return k.Expires
			}
			return nil
		}(),
		"keyName":    k.Name,
		"namePrefix": nil,
		"options":    []string{"s3"},
	}
	if k.BucketID != "" {
		out["bucketId"] = k.BucketID
	}
	if k.NamePrefix != nil {
		out["namePrefix"] = *k.NamePrefix
	}
	if withSecret {
		out["applicationKey"] = k.Secret
	}
	return out
}

func (s *Server) apiCreateKey(c *call) (any, *apiErr) {
	if e := c.auth.check("writeKeys", "", nil); e != nil {
		return nil, e
	}
	if e := s.checkAccount(c); e != nil {
		return nil, e
	}
	caps, ok, e := c.p.strs("capabilities")
	if e != nil {
		return nil, e
	}
	if !ok || len(caps) == 0 {
		return nil, badRequest("required field capabilities is missing")
	}
	known := map[string]bool{}
	for _, n := range capabilityNames {
		known[n] = true
	}
	seen := map[string]bool{}
	var clean []string
	for _, cp := range caps {
		if !known[cp] {
			return nil, badRequest("unknown capability: %s", cp)
		}
		if !seen[cp] {
			seen[cp] = true
			clean = append(clean, cp)
		}
	}
	name, e := c.p.reqStr("keyName")
	if e != nil {
		return nil, e
	}
	if !keyNameRE.MatchString(name) {
		return nil, badRequest("keyName must be 1-100 letters, digits or '-'")
	}
	dur, hasDur, e := c.p.int("validDurationInSeconds")
	if e != nil {
		return nil, e
	}
	if hasDur && (dur < 1 || dur > 86_400_000) {
		return nil, badRequest("validDurationInSeconds must be between 1 and 86400000")
	}
	bucketID, hasBucket, e := c.p.str("bucketId")
	if e != nil {
		return nil, e
	}
	prefix, hasPrefix, e := c.p.str("namePrefix")
	if e != nil {
		return nil, e
	}
	if hasPrefix && !hasBucket {
		return nil, badRequest("namePrefix requires bucketId")
	}
	if hasBucket {
		for _, cp := range clean {
			if !bucketKeyCapabilities[cp] {
				return nil, badRequest("capability %s is not allowed on a key restricted to a bucket", cp)
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if hasBucket {
		if e := c.auth.check("", bucketID, nil); e != nil {
			return nil, e
		}
		if _, e := s.bucketFor(nil, bucketID); e != nil {
			return nil, e
		}
	}
	s.st.seq++
	k := &appKey{
		ID:           fmt.Sprintf("00%s%011d", s.opts.AccountID, s.st.seq),
		Secret:       "K" + randAlnum(30),
		Name:         name,
		Capabilities: clean,
		BucketID:     bucketID,
	}
	if hasPrefix {
		p := prefix
		k.NamePrefix = &p
	}
	if hasDur {
		k.Expires = s.now().Add(time.Duration(dur) * time.Second).UnixMilli()
	}
	s.st.keys[k.ID] = k
	s.journalWrite(&record{T: "key", Key: k})
	return keyJSON(k, s.opts.AccountID, true), nil
}

func (s *Server) apiListKeys(c *call) (any, *apiErr) {
	if e := c.auth.check("listKeys", "", nil); e != nil {
		return nil, e
	}
	if e := s.checkAccount(c); e != nil {
		return nil, e
	}
	max, _, e := c.p.int("maxKeyCount")
	if e != nil {
		return nil, e
	}
	if max == 0 {
		max = 100
	}
	if max < 0 || max > 10000 {
		return nil, errf(400, "out_of_range", "maxKeyCount must be between 1 and 10000")
	}
	start, _, e := c.p.str("startApplicationKeyId")
	if e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, 0, len(s.st.keys))
	for id := range s.st.keys {
		if id >= start {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	keys := []map[string]any{}
	var next any
	for i, id := range ids {
		if int64(i) == max {
			next = id
			break
		}
		keys = append(keys, keyJSON(s.st.keys[id], s.opts.AccountID, false))
	}
	return map[string]any{"keys": keys, "nextApplicationKeyId": next}, nil
}

func (s *Server) apiDeleteKey(c *call) (any, *apiErr) {
	if e := c.auth.check("deleteKeys", "", nil); e != nil {
		return nil, e
	}
	id, e := c.p.reqStr("applicationKeyId")
	if e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.st.keys[id]
	if k == nil {
		return nil, badRequest("application key %s does not exist", id)
	}
	delete(s.st.keys, id)
	s.journalWrite(&record{T: "keydel", ID: id})
	return keyJSON(k, s.opts.AccountID, false), nil
}

var downloadOverrideParams = []string{
	"b2ContentDisposition", "b2ContentLanguage", "b2Expires", "b2CacheControl",
	"b2ContentEncoding", "b2ContentType",
}

func (s *Server) apiGetDownloadAuthorization(c *call) (any, *apiErr) {
	bucketID, e := c.p.reqStr("bucketId")
	if e != nil {
		return nil, e
	}
	prefix, ok, e := c.p.str("fileNamePrefix")
	if e != nil {
		return nil, e
	}
	if !ok {
		return nil, badRequest("required field fileNamePrefix is missing")
	}
	if e := c.auth.check("shareFiles", bucketID, &prefix); e != nil {
		return nil, e
	}
	dur, ok, e := c.p.int("validDurationInSeconds")
	if e != nil {
		return nil, e
	}
	if !ok {
		return nil, badRequest("required field validDurationInSeconds is missing")
	}
	if dur < 1 || dur > 604800 {
		return nil, badRequest("validDurationInSeconds must be between 1 and 604800")
	}
	over := map[string]string{}
	for _, k := range downloadOverrideParams {
		v, ok, e := c.p.str(k)
		if e != nil {
			return nil, e
		}
		if ok {
			over[k] = v
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, e := s.bucketFor(nil, bucketID); e != nil {
		return nil, e
	}
	tok := fmt.Sprintf("3_%s_%s_dnld_%s", s.opts.AccountID, randHex(8), randAlnum(24))
	s.st.dlTokens[tok] = &downloadAuth{
		bucketID: bucketID, prefix: prefix, overrides: over, keyID: c.auth.key.ID,
		expires: s.now().Add(time.Duration(dur) * time.Second),
	}
	return map[string]any{"authorizationToken": tok, "bucketId": bucketID, "fileNamePrefix": prefix}, nil
}

// group is a Partner API group.
type group struct {
	ID, Name string
	Members  int
}

var sampleGroups = []group{
	{"40321", "QA group", 4}, {"40322", "Engineering", 12}, {"40323", "QA group", 1},
}

func (s *Server) apiListGroups(c *call) (any, *apiErr) {
	if !s.opts.Partner {
		return nil, unauthorized("account is not enabled for the Partner API")
	}
	admin, e := c.p.reqStr("adminAccountId")
	if e != nil {
		return nil, e
	}
	if admin != s.opts.AccountID {
		return nil, unauthorized("adminAccountId %s does not match the authorized account", admin)
	}
	name, hasName, e := c.p.str("groupName")
	if e != nil {
		return nil, e
	}
	start, _, e := c.p.str("startGroupId")
	if e != nil {
		return nil, e
	}
	max, ok, e := c.p.int("maxGroupCount")
	if e != nil {
		return nil, e
	}
	if !ok {
		max = 100
	}
	if max < 1 || max > 100 {
		return nil, badRequest("maxGroupCount must be between 1 and 100")
	}
	groups := []map[string]any{}
	var next any
	for _, g := range sampleGroups {
		if g.ID < start || (hasName && g.Name != name) {
			continue
		}
		if int64(len(groups)) == max {
			next = g.ID
			break
		}
		groups = append(groups, map[string]any{
			"accountStandingDetails": map[string]any{"state": "B2_GOOD_STANDING"},
			"b2Stats": map[string]any{"b2BytesStoredCount": 0, "b2FilesStoredCount": 0,
				"b2StatsAsOfTimestamp": "d20240601_m000000", "bucketCount": 0},
			"groupId": g.ID, "groupName": g.Name, "groupProducts": []string{"STORAGE"},
			"groupStats": map[string]any{"createdTimestamp": "d20230101_m120000",
				"groupStatsAsOfTimestamp": "d20240601_m000000", "memberCount": g.Members},
		})
	}
	return map[string]any{"groups": groups, "nextGroupId": next}, nil
}
