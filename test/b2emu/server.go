package b2emu

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a Server. The zero value plus a Key is a usable
// configuration with the real service's limits.
type Options struct {
	AccountID               string        // default "0123456789ab"
	KeyID, Key              string        // master key credentials; KeyID defaults to AccountID; Key required
	DataDir                 string        // "" = a temp dir removed by Close; else state survives restart
	TokenLifetime           time.Duration // default 24h
	RecommendedPartSize     int64         // default 100_000_000
	AbsoluteMinimumPartSize int64         // default 5_000_000
	MaxFileSize             int64         // default 5_000_000_000 (simple upload, part and copy limit)
	RelaxedNames            bool          // false = also enforce the legacy name rules
	Latency                 time.Duration // added before every response
	Bandwidth               int64         // bytes/s cap per request body and response body, 0 = none
	Partner                 bool          // enable apiInfo.groupsApi and b2_list_groups
	Logger                  *slog.Logger  // nil = discard

	// AllowSinglePartLargeFile lets b2_finish_large_file accept a large file
	// made of a single part (the strict default rejects it).
	AllowSinglePartLargeFile bool
	// MaxInfoHeaders caps the X-Bz-Info-* headers of one upload (default 10).
	MaxInfoHeaders int
	// MaxBuckets is the per-account bucket limit (default 100).
	MaxBuckets int
	// ListingLag makes b2_list_file_names and b2_list_file_versions see a
	// new version (upload, hide marker, copy, finished or started large
	// file) only this long after it was stored, to test clients against an
	// eventually consistent listing. Deletions show at once. 0 = strongly
	// consistent.
	ListingLag time.Duration
	// TestModeFailEvery makes X-Bz-Test-Mode fail_some_uploads fail every
	// Nth upload and expire_some_account_authorization_tokens expire the
	// token on every Nth call (default 3).
	TestModeFailEvery int
}

// Server is the emulator. Create it with New; it is an http.Handler.
type Server struct {
	opts    Options
	log     *slog.Logger
	rootDir string // DataDir or the temp dir
	blobDir string
	tempDir bool

	// mu guards st and the journal. See the package doc for the lock order.
	mu      sync.Mutex
	st      *state
	journal *journal

	faultsMu sync.Mutex
	faults   []*faultState

	statsMu sync.Mutex
	calls   map[string]int64
	classes map[string]int64

	testModeCount atomic.Int64
	panics        atomic.Int64 // handler panics turned into 500 internal_error
	closed        atomic.Bool
}

// Stats are the transaction counters: one count per API call by name and by
// transaction class (A, B, C).
type Stats struct {
	Calls   map[string]int64 `json:"calls"`
	Classes map[string]int64 `json:"classes"`
}

// New creates a Server. It replays DataDir's journal when there is one.
func New(opts Options) (*Server, error) {
	if opts.Key == "" {
		return nil, errors.New("b2emu: Options.Key is required")
	}
	if opts.AccountID == "" {
		opts.AccountID = "0123456789ab"
	}
	if opts.KeyID == "" {
		opts.KeyID = opts.AccountID
	}
	if opts.TokenLifetime <= 0 {
		opts.TokenLifetime = 24 * time.Hour
	}
	if opts.RecommendedPartSize <= 0 {
		opts.RecommendedPartSize = 100_000_000
	}
	if opts.AbsoluteMinimumPartSize <= 0 {
		opts.AbsoluteMinimumPartSize = 5_000_000
	}
	if opts.MaxFileSize <= 0 {
		opts.MaxFileSize = 5_000_000_000
	}
	if opts.MaxInfoHeaders <= 0 {
		opts.MaxInfoHeaders = 10
	}
	if opts.MaxBuckets <= 0 {
		opts.MaxBuckets = 100
	}
	if opts.TestModeFailEvery <= 0 {
		opts.TestModeFailEvery = 3
	}
	s := &Server{
		opts:    opts,
		log:     opts.Logger,
		calls:   map[string]int64{},
		classes: map[string]int64{},
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.DataDir == "" {
		d, err := os.MkdirTemp("", "b2emu-")
		if err != nil {
			return nil, fmt.Errorf("b2emu: temp dir: %w", err)
		}
		s.rootDir, s.tempDir = d, true
	} else {
		s.rootDir = opts.DataDir
	}
	s.blobDir = filepath.Join(s.rootDir, "blobs")
	if err := os.MkdirAll(s.blobDir, 0o700); err != nil {
		return nil, fmt.Errorf("b2emu: blob dir: %w", err)
	}
	s.st = newState()
	if !s.tempDir {
		j, err := openJournal(filepath.Join(s.rootDir, "journal.jsonl"), s.st)
		if err != nil {
			return nil, fmt.Errorf("b2emu: %w", err)
		}
		s.journal = j
		s.removeOrphanBlobs()
	}
	s.st.masterKey = &appKey{
		ID:           opts.KeyID,
		Secret:       opts.Key,
		Name:         "master",
		Capabilities: allCapabilities(),
		master:       true,
	}
	return s, nil
}

// Close releases the server's resources; without DataDir it removes the
// temporary directory with every stored body.
func (s *Server) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.mu.Lock()
	var err error
	if s.journal != nil {
		err = s.journal.close()
		s.journal = nil
	}
	s.mu.Unlock()
	if s.tempDir {
		if e := os.RemoveAll(s.rootDir); e != nil && err == nil {
			err = e
		}
	}
	return err
}

// now returns the emulator clock (real time plus AdvanceClock offsets).
// Callers hold s.mu.
func (s *Server) now() time.Time { return time.Now().Add(s.st.clockOffset) }

// nowMillis returns a millisecond timestamp that never goes backwards.
// Callers hold s.mu.
func (s *Server) nowMillis() int64 {
	ms := s.now().UnixMilli()
	if ms < s.st.lastMillis {
		ms = s.st.lastMillis
	}
	s.st.lastMillis = ms
	return ms
}

// AdvanceClock moves the emulator clock forward by d (token expiry, upload
// timestamps).
func (s *Server) AdvanceClock(d time.Duration) {
	if d <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.clockOffset += d
	s.journalWrite(&record{T: "clock", Offset: int64(s.st.clockOffset)})
}

// ExpireTokens makes every account token issued so far answer 401
// expired_auth_token.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.st.tokens {
		t.expired = true
	}
}

// Stats returns a copy of the transaction counters.
func (s *Server) Stats() Stats {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	st := Stats{Calls: map[string]int64{}, Classes: map[string]int64{"A": 0, "B": 0, "C": 0}}
	for k, v := range s.calls {
		st.Calls[k] = v
	}
	for k, v := range s.classes {
		st.Classes[k] = v
	}
	return st
}

// ResetStats zeroes the transaction counters.
func (s *Server) ResetStats() {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	s.calls = map[string]int64{}
	s.classes = map[string]int64{}
}

func (s *Server) count(api string) {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	s.calls[api]++
	if c := apiClass[api]; c != "" {
		s.classes[c]++
	}
}

// apiClass is the transaction class of each API (§12 of the reference).
var apiClass = map[string]string{
	"b2_cancel_large_file": "A", "b2_delete_bucket": "A", "b2_delete_file_version": "A",
	"b2_delete_key": "A", "b2_finish_large_file": "A", "b2_get_upload_part_url": "A",
	"b2_get_upload_url": "A", "b2_hide_file": "A", "b2_start_large_file": "A",
	"b2_upload_file": "A", "b2_upload_part": "A",
	"b2_download_file_by_id": "B", "b2_download_file_by_name": "B", "b2_get_file_info": "B",
	"b2_authorize_account": "C", "b2_copy_file": "C", "b2_copy_part": "C",
	"b2_create_bucket": "C", "b2_create_key": "C", "b2_get_download_authorization": "C",
	"b2_list_buckets": "C", "b2_list_file_names": "C", "b2_list_file_versions": "C",
	"b2_list_keys": "C", "b2_list_parts": "C", "b2_list_unfinished_large_files": "C",
	"b2_update_bucket": "C",
}

// route describes one request after path parsing.
type route struct {
	api     string // B2 API name, "" for admin
	version int    // 1..4; 0 for /file/ downloads
	rest    string // path after the API name (upload URLs)
}

var jsonAPIs = map[string]func(*Server, *call) (any, *apiErr){}

func init() {
	for k, v := range map[string]func(*Server, *call) (any, *apiErr){
		"b2_authorize_account":           (*Server).apiAuthorize,
		"b2_create_bucket":               (*Server).apiCreateBucket,
		"b2_list_buckets":                (*Server).apiListBuckets,
		"b2_update_bucket":               (*Server).apiUpdateBucket,
		"b2_delete_bucket":               (*Server).apiDeleteBucket,
		"b2_list_file_names":             (*Server).apiListFileNames,
		"b2_list_file_versions":          (*Server).apiListFileVersions,
		"b2_get_file_info":               (*Server).apiGetFileInfo,
		"b2_hide_file":                   (*Server).apiHideFile,
		"b2_delete_file_version":         (*Server).apiDeleteFileVersion,
		"b2_copy_file":                   (*Server).apiCopyFile,
		"b2_copy_part":                   (*Server).apiCopyPart,
		"b2_get_upload_url":              (*Server).apiGetUploadURL,
		"b2_start_large_file":            (*Server).apiStartLargeFile,
		"b2_get_upload_part_url":         (*Server).apiGetUploadPartURL,
		"b2_list_parts":                  (*Server).apiListParts,
		"b2_finish_large_file":           (*Server).apiFinishLargeFile,
		"b2_cancel_large_file":           (*Server).apiCancelLargeFile,
		"b2_list_unfinished_large_files": (*Server).apiListUnfinished,
		"b2_get_download_authorization":  (*Server).apiGetDownloadAuthorization,
		"b2_create_key":                  (*Server).apiCreateKey,
		"b2_list_keys":                   (*Server).apiListKeys,
		"b2_delete_key":                  (*Server).apiDeleteKey,
		"b2_list_groups":                 (*Server).apiListGroups,
	} {
		jsonAPIs[k] = v
	}
}

func parseRoute(path string) (route, bool) {
	if rest, ok := strings.CutPrefix(path, "/file/"); ok {
		return route{api: "b2_download_file_by_name", rest: rest}, true
	}
	rest, ok := strings.CutPrefix(path, "/b2api/v")
	if !ok || len(rest) < 2 || rest[0] < '1' || rest[0] > '4' || rest[1] != '/' {
		return route{}, false
	}
	v := int(rest[0] - '0')
	rest = rest[2:]
	api, tail, _ := strings.Cut(rest, "/")
	switch api {
	case "b2_upload_file", "b2_upload_part":
		return route{api: api, version: v, rest: tail}, true
	case "b2_download_file_by_id":
		if tail != "" {
			return route{}, false
		}
		return route{api: api, version: v}, true
	}
	if _, ok := jsonAPIs[api]; !ok || tail != "" {
		return route{}, false
	}
	return route{api: api, version: v}, true
}

// ServeHTTP serves the B2 Native API and the /b2emu/ admin endpoints.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Date", time.Now().UTC().Format(http.TimeFormat))
	if strings.HasPrefix(r.URL.Path, "/b2emu/") {
		s.serveAdmin(w, r)
		return
	}
	rt, ok := parseRoute(r.URL.Path)
	if !ok {
		writeErr(w, r, errf(404, "not_found", "unknown path %q", r.URL.Path))
		return
	}
	s.count(rt.api)
	sw := &statusWriter{ResponseWriter: w}
	w = sw
	defer func() {
		if sw.status >= 400 {
			s.log.Debug("b2emu: error answer", "api", rt.api, "method", r.Method, "status", sw.status)
		}
	}()
	if s.opts.Latency > 0 && !sleepCtx(r.Context(), s.opts.Latency) {
		return
	}
	if s.opts.Bandwidth > 0 {
		w = newPacedWriter(w, s.opts.Bandwidth)
		if r.Body != nil {
			r.Body = &pacedReader{rc: r.Body, rate: s.opts.Bandwidth, start: time.Now()}
		}
	}
	fault := s.matchFault(rt.api)
	if fault != nil {
		switch fault.Action {
		case "stall":
			if !sleepCtx(r.Context(), time.Duration(fault.Delay)) {
				return
			}
		case "reset":
			if rt.api == "b2_upload_file" || rt.api == "b2_upload_part" {
				resetDuringUpload(w, r, fault.ResetAfterBytes)
				return
			}
			rw := &resetWriter{ResponseWriter: w, limit: fault.ResetAfterBytes}
			defer rw.finish()
			w = rw
		default:
			e := &apiErr{Status: fault.Status, Code: fault.Code, Message: fault.Message, retry: fault.RetryAfter}
			if e.Status == 0 {
				e.Status = 503
			}
			if e.Code == "" {
				e.Code = defaultCode(e.Status, rt.api)
			}
			if e.Message == "" {
				e.Message = "injected fault"
			}
			if e.Status == 401 && (e.Code == "expired_auth_token" || e.Code == "bad_auth_token") {
				s.expireRequestToken(r)
			}
			writeErr(w, r, e)
			return
		}
	}
	c := &call{s: s, w: w, r: r, route: rt}
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.panics.Add(1)
			s.log.Error("b2emu: panic", "api", rt.api, "panic", v, "stack", string(debug.Stack()))
			writeErr(w, r, errf(500, "internal_error", "internal error"))
		}
	}()
	switch rt.api {
	case "b2_upload_file":
		s.serveUpload(c, "file", s.uploadFile)
	case "b2_upload_part":
		s.serveUpload(c, "part", s.uploadPart)
	case "b2_download_file_by_name", "b2_download_file_by_id":
		s.serveDownload(c)
	default:
		s.serveJSON(c)
	}
}

// call carries one request through its handler.
type call struct {
	s     *Server
	w     http.ResponseWriter
	r     *http.Request
	route route
	p     params
	auth  *authInfo
}

func (s *Server) serveJSON(c *call) {
	if c.r.Method != http.MethodGet && c.r.Method != http.MethodPost {
		writeErr(c.w, c.r, errf(405, "method_not_allowed", "method %s not allowed", c.r.Method))
		return
	}
	p, e := parseParams(c.r)
	if e != nil {
		writeErr(c.w, c.r, e)
		return
	}
	c.p = p
	if c.route.api != "b2_authorize_account" {
		if e := s.testModeJSON(c.r); e != nil {
			writeErr(c.w, c.r, e)
			return
		}
		a, e := s.authenticate(c.r, c.tokenFromRequest(false))
		if e != nil {
			writeErr(c.w, c.r, e)
			return
		}
		c.auth = a
	}
	res, e := jsonAPIs[c.route.api](s, c)
	if e != nil {
		writeErr(c.w, c.r, e)
		return
	}
	writeJSON(c.w, c.r, 200, res)
}

func (c *call) tokenFromRequest(allowQuery bool) string {
	if t := c.r.Header.Get("Authorization"); t != "" {
		return t
	}
	if allowQuery {
		return c.r.URL.Query().Get("Authorization")
	}
	return ""
}

// testModeJSON applies X-Bz-Test-Mode: expire_some_account_authorization_tokens.
func (s *Server) testModeJSON(r *http.Request) *apiErr {
	if r.Header.Get("X-Bz-Test-Mode") != "expire_some_account_authorization_tokens" {
		return nil
	}
	if s.testModeCount.Add(1)%int64(s.opts.TestModeFailEvery) != 0 {
		return nil
	}
	s.expireRequestToken(r)
	return errf(401, "expired_auth_token", "authorization token is expired (test mode)")
}

// expireRequestToken expires the account or upload token the request
// carries, so an injected 401 behaves like a real expired token.
func (s *Server) expireRequestToken(r *http.Request) {
	tok := r.Header.Get("Authorization")
	if tok == "" {
		tok = r.URL.Query().Get("Authorization")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.st.tokens[tok]; t != nil {
		t.expired = true
	}
	if u := s.st.uploadTokens[tok]; u != nil {
		u.expired = true
	}
}

// AccountID returns the emulated account's id.
func (s *Server) AccountID() string { return s.opts.AccountID }

// removeOrphanBlobs deletes blob files no stored version refers to (left by
// uploads that were in flight when a previous run stopped).
func (s *Server) removeOrphanBlobs() {
	used := map[string]bool{}
	for _, f := range s.st.files {
		for _, b := range f.blobs() {
			used[b] = true
		}
	}
	ents, err := os.ReadDir(s.blobDir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if !used[e.Name()] && strings.HasPrefix(e.Name(), "b-") {
			_ = os.Remove(filepath.Join(s.blobDir, e.Name()))
		}
	}
}

// statusWriter records the status of an answer for logging.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}
