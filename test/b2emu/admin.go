package b2emu

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"time"
)

// serveAdmin serves the unauthenticated /b2emu/ endpoints (not counted in
// the statistics):
//
//	GET    /b2emu/stats                 {"calls": {...}, "classes": {"A":..,"B":..,"C":..}}
//	POST   /b2emu/stats/reset
//	POST   /b2emu/faults                one FaultRule or an array of them
//	DELETE /b2emu/faults
//	POST   /b2emu/expire-tokens
//	POST   /b2emu/advance-clock?d=1h
func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request) {
	ok := map[string]any{"ok": true}
	switch {
	case r.URL.Path == "/b2emu/stats" && r.Method == http.MethodGet:
		writeJSON(w, r, 200, s.Stats())
	case r.URL.Path == "/b2emu/stats/reset" && r.Method == http.MethodPost:
		s.ResetStats()
		writeJSON(w, r, 200, ok)
	case r.URL.Path == "/b2emu/faults" && r.Method == http.MethodPost:
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			writeErr(w, r, badRequest("reading body: %v", err))
			return
		}
		var rules []FaultRule
		if t := bytes.TrimSpace(body); len(t) > 0 && t[0] == '[' {
			err = json.Unmarshal(t, &rules)
		} else {
			var one FaultRule
			err = json.Unmarshal(t, &one)
			rules = []FaultRule{one}
		}
		if err != nil {
			writeErr(w, r, errf(400, "bad_json", "fault rule: %v", err))
			return
		}
		for _, fr := range rules {
			if err := fr.validate(); err != nil {
				writeErr(w, r, badRequest("%v", err))
				return
			}
		}
		for _, fr := range rules {
			s.AddFault(fr)
		}
		writeJSON(w, r, 200, map[string]any{"ok": true, "added": len(rules)})
	case r.URL.Path == "/b2emu/faults" && r.Method == http.MethodDelete:
		s.ClearFaults()
		writeJSON(w, r, 200, ok)
	case r.URL.Path == "/b2emu/faults" && r.Method == http.MethodGet:
		s.faultsMu.Lock()
		rules := make([]FaultRule, 0, len(s.faults))
		for _, f := range s.faults {
			rules = append(rules, f.FaultRule)
		}
		s.faultsMu.Unlock()
		writeJSON(w, r, 200, rules)
	case r.URL.Path == "/b2emu/expire-tokens" && r.Method == http.MethodPost:
		s.ExpireTokens()
		writeJSON(w, r, 200, ok)
	case r.URL.Path == "/b2emu/advance-clock" && r.Method == http.MethodPost:
		d, err := time.ParseDuration(r.URL.Query().Get("d"))
		if err != nil || d <= 0 {
			writeErr(w, r, badRequest("advance-clock needs ?d=<positive duration>, e.g. d=1h"))
			return
		}
		s.AdvanceClock(d)
		writeJSON(w, r, 200, ok)
	default:
		writeErr(w, r, errf(404, "not_found", "unknown admin endpoint %s %s", r.Method, r.URL.Path))
	}
}
