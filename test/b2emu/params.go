package b2emu

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// sleepCtx sleeps d or until ctx ends; it reports whether the full time passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func randAlnum(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	for i := range b {
		b[i] = alnum[int(b[i])%len(alnum)]
	}
	return string(b)
}

// params are the decoded parameters of a JSON API call, from a JSON body or
// a query string. null values are dropped (null = absent).
type params struct {
	m         map[string]json.RawMessage
	fromQuery map[string]bool
}

const maxJSONBody = 4 << 20

func parseParams(r *http.Request) (params, *apiErr) {
	p := params{m: map[string]json.RawMessage{}, fromQuery: map[string]bool{}}
	if r.Method == http.MethodPost && r.Body != nil {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxJSONBody+1))
		if err != nil {
			return p, errf(400, "bad_request", "reading request body: %v", err)
		}
		if len(body) > maxJSONBody {
			return p, badRequest("request body too large")
		}
		if len(bytes.TrimSpace(body)) > 0 {
			var m map[string]json.RawMessage
			if err := json.Unmarshal(body, &m); err != nil {
				return p, errf(400, "bad_json", "request body is not a JSON object: %v", err)
			}
			for k, v := range m {
				if string(bytes.TrimSpace(v)) != "null" {
					p.m[k] = v
				}
			}
		}
	}
	for k, vs := range r.URL.Query() {
		if _, ok := p.m[k]; ok || len(vs) == 0 || k == "Authorization" {
			continue
		}
		var raw json.RawMessage
		if len(vs) > 1 {
			raw, _ = json.Marshal(vs)
		} else {
			v := vs[0]
			if v == "null" {
				continue
			}
			t := strings.TrimSpace(v)
			if (strings.HasPrefix(t, "[") || strings.HasPrefix(t, "{")) && json.Valid([]byte(t)) {
				raw = json.RawMessage(t)
			} else {
				raw, _ = json.Marshal(v)
			}
		}
		p.m[k] = raw
		p.fromQuery[k] = true
	}
	return p, nil
}

func (p params) has(k string) bool { _, ok := p.m[k]; return ok }

func (p params) str(k string) (string, bool, *apiErr) {
	raw, ok := p.m[k]
	if !ok {
		return "", false, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false, badRequest("%s must be a string", k)
	}
	return s, true, nil
}

func (p params) reqStr(k string) (string, *apiErr) {
	s, ok, e := p.str(k)
	if e != nil {
		return "", e
	}
	if !ok {
		return "", badRequest("required field %s is missing", k)
	}
	return s, nil
}

func (p params) int(k string) (int64, bool, *apiErr) {
	raw, ok := p.m[k]
	if !ok {
		return 0, false, nil
	}
	var n int64
	if err := json.Unmarshal(raw, &n); err == nil {
		return n, true, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64); err == nil {
			return n, true, nil
		}
	}
	return 0, false, badRequest("%s must be an integer", k)
}

func (p params) boolean(k string) (bool, bool, *apiErr) {
	raw, ok := p.m[k]
	if !ok {
		return false, false, nil
	}
	var b bool
	if err := json.Unmarshal(raw, &b); err == nil {
		return b, true, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		if b, err := strconv.ParseBool(s); err == nil {
			return b, true, nil
		}
	}
	return false, false, badRequest("%s must be a boolean", k)
}

func (p params) strs(k string) ([]string, bool, *apiErr) {
	raw, ok := p.m[k]
	if !ok {
		return nil, false, nil
	}
	var a []string
	if err := json.Unmarshal(raw, &a); err == nil {
		if a == nil {
			a = []string{}
		}
		return a, true, nil
	}
	var s string
	if p.fromQuery[k] && json.Unmarshal(raw, &s) == nil {
		if s == "" {
			return []string{}, true, nil
		}
		return strings.Split(s, ","), true, nil
	}
	return nil, false, badRequest("%s must be an array of strings", k)
}

func (p params) strMap(k string) (map[string]string, bool, *apiErr) {
	raw, ok := p.m[k]
	if !ok {
		return nil, false, nil
	}
	var m map[string]string
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, false, badRequest("%s must be an object with string values", k)
	}
	if m == nil {
		m = map[string]string{}
	}
	return m, true, nil
}

// array returns a JSON array parameter verbatim.
func (p params) array(k string) (json.RawMessage, bool, *apiErr) {
	raw, ok := p.m[k]
	if !ok {
		return nil, false, nil
	}
	var a []json.RawMessage
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, false, badRequest("%s must be an array", k)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, false, badRequest("%s must be an array", k)
	}
	return json.RawMessage(buf.Bytes()), true, nil
}
