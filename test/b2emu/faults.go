package b2emu

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// FaultRule injects a failure into matching API calls. It is also the JSON
// accepted by POST /b2emu/faults.
type FaultRule struct {
	API             string   `json:"api"`             // B2 API name; "*" = any
	Skip            int      `json:"skip"`            // let this many matching calls through first
	Times           int      `json:"times"`           // then inject on this many calls (0 = 1; -1 = forever)
	Status          int      `json:"status"`          // HTTP status of an "error" (default 503)
	Code            string   `json:"code"`            // default derived from Status
	Message         string   `json:"message"`         // default "injected fault"
	RetryAfter      int      `json:"retryAfter"`      // seconds; adds Retry-After
	Action          string   `json:"action"`          // "error" (default), "reset", "stall"
	ResetAfterBytes int64    `json:"resetAfterBytes"` // "reset": body bytes to send (receive, for uploads) first
	Delay           Duration `json:"delay"`           // "stall": time to sleep before answering
}

// Duration is a time.Duration that reads and writes JSON as "2s" (a plain
// number is taken as nanoseconds).
type Duration time.Duration

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("duration %q: %w", s, err)
		}
		*d = Duration(v)
		return nil
	}
	var n int64
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("duration must be a string like \"2s\"")
	}
	*d = Duration(n)
	return nil
}

type faultState struct {
	FaultRule
	seen     int
	injected int
}

func (r FaultRule) validate() error {
	switch r.Action {
	case "", "error", "reset", "stall":
	default:
		return fmt.Errorf("unknown fault action %q", r.Action)
	}
	if r.API == "" {
		return fmt.Errorf("fault rule needs api (a B2 API name or \"*\")")
	}
	if r.Status != 0 && (r.Status < 400 || r.Status > 599) {
		return fmt.Errorf("fault status %d is not an error status", r.Status)
	}
	if r.Times < -1 || r.Skip < 0 || r.ResetAfterBytes < 0 || r.Delay < 0 || r.RetryAfter < 0 {
		return fmt.Errorf("fault rule has a negative count")
	}
	return nil
}

// AddFault adds a fault rule. Rules are checked in the order added; the
// first rule that fires decides the call.
func (s *Server) AddFault(r FaultRule) {
	if r.Action == "" {
		r.Action = "error"
	}
	s.faultsMu.Lock()
	defer s.faultsMu.Unlock()
	s.faults = append(s.faults, &faultState{FaultRule: r})
}

// ClearFaults removes every fault rule.
func (s *Server) ClearFaults() {
	s.faultsMu.Lock()
	defer s.faultsMu.Unlock()
	s.faults = nil
}

// matchFault counts the call against every matching rule and returns the
// first that fires. A "*" rule answering 401 with a token code does not
// apply to b2_authorize_account (which has no token to expire).
func (s *Server) matchFault(api string) *FaultRule {
	s.faultsMu.Lock()
	defer s.faultsMu.Unlock()
	var fired *FaultRule
	for _, f := range s.faults {
		if f.API != api && f.API != "*" {
			continue
		}
		if f.API == "*" && api == "b2_authorize_account" && f.Status == 401 &&
			(f.Code == "" || f.Code == "expired_auth_token" || f.Code == "bad_auth_token") {
			continue
		}
		times := f.Times
		if times == 0 {
			times = 1
		}
		f.seen++
		if f.seen <= f.Skip || (times > 0 && f.injected >= times) || fired != nil {
			continue
		}
		f.injected++
		r := f.FaultRule
		fired = &r
	}
	return fired
}

// resetWriter passes the headers and the first limit body bytes through,
// then kills the TCP connection.
type resetWriter struct {
	http.ResponseWriter
	limit   int64
	written int64
	killed  bool
}

func (w *resetWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *resetWriter) Write(p []byte) (int, error) {
	if w.killed {
		return 0, net.ErrClosed
	}
	room := w.limit - w.written
	if int64(len(p)) <= room {
		n, err := w.ResponseWriter.Write(p)
		w.written += int64(n)
		return n, err
	}
	n, _ := w.ResponseWriter.Write(p[:room])
	w.written += int64(n)
	w.kill()
	return n, net.ErrClosed
}

func (w *resetWriter) finish() {
	if !w.killed {
		w.kill()
	}
}

func (w *resetWriter) kill() {
	w.killed = true
	rc := http.NewResponseController(w.ResponseWriter)
	_ = rc.Flush()
	conn, _, err := rc.Hijack()
	if err != nil {
		// Not hijackable (e.g. a ResponseRecorder): abort the handler,
		// which makes net/http drop the connection.
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// resetDuringUpload reads up to n bytes of an upload's body and then kills
// the connection without answering and without storing anything, like a
// connection that breaks while the client sends.
func resetDuringUpload(w http.ResponseWriter, r *http.Request, n int64) {
	if r.Body != nil {
		_, _ = io.CopyN(io.Discard, r.Body, n)
	}
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// pace sleeps so that n bytes since start do not exceed rate bytes/s.
func pace(start time.Time, n, rate int64) {
	want := time.Duration(float64(n) / float64(rate) * float64(time.Second))
	if d := want - time.Since(start); d > 0 {
		time.Sleep(d)
	}
}

// pacedWriter caps a response body at rate bytes/s.
type pacedWriter struct {
	http.ResponseWriter
	rate  int64
	start time.Time
	n     int64
}

func newPacedWriter(w http.ResponseWriter, rate int64) *pacedWriter {
	return &pacedWriter{ResponseWriter: w, rate: rate, start: time.Now()}
}

func (w *pacedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *pacedWriter) Write(p []byte) (int, error) {
	total := 0
	chunk := int(max(w.rate/20, 512))
	for len(p) > 0 {
		c := min(len(p), chunk)
		n, err := w.ResponseWriter.Write(p[:c])
		total += n
		w.n += int64(n)
		if err != nil {
			return total, err
		}
		p = p[c:]
		pace(w.start, w.n, w.rate)
	}
	return total, nil
}

// pacedReader caps a request body at rate bytes/s.
type pacedReader struct {
	rc    io.ReadCloser
	rate  int64
	start time.Time
	n     int64
}

func (r *pacedReader) Read(p []byte) (int, error) {
	chunk := int(max(r.rate/20, 512))
	if len(p) > chunk {
		p = p[:chunk]
	}
	n, err := r.rc.Read(p)
	r.n += int64(n)
	pace(r.start, r.n, r.rate)
	return n, err
}

func (r *pacedReader) Close() error { return r.rc.Close() }
