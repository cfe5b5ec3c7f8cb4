package b2emu

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// apiErr is a B2 error answer.
type apiErr struct {
	Status  int    `json:"status"`
	Code    string `json:"code"`
	Message string `json:"message"`
	retry   int
}

func (e *apiErr) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

func errf(status int, code, format string, args ...any) *apiErr {
	return &apiErr{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) *apiErr {
	return errf(http.StatusBadRequest, "bad_request", format, args...)
}

func unauthorized(format string, args ...any) *apiErr {
	return errf(http.StatusUnauthorized, "unauthorized", format, args...)
}

// defaultCode is the B2 error code used for a fault of the given status when
// the rule names none.
func defaultCode(status int, api string) string {
	switch status {
	case 400:
		return "bad_request"
	case 401:
		return "expired_auth_token"
	case 403:
		switch api {
		case "b2_download_file_by_id", "b2_download_file_by_name":
			return "download_cap_exceeded"
		case "b2_upload_file", "b2_upload_part", "b2_copy_file", "b2_copy_part":
			return "storage_cap_exceeded"
		}
		return "transaction_cap_exceeded"
	case 404:
		return "not_found"
	case 405:
		return "method_not_allowed"
	case 408:
		return "request_timeout"
	case 409:
		return "conflict"
	case 416:
		return "range_not_satisfiable"
	case 429:
		return "too_many_requests"
	case 503:
		return "service_unavailable"
	}
	if status >= 500 {
		return "internal_error"
	}
	return "bad_request"
}

// setJSONHeaders sets the headers B2 sends with every JSON answer.
func setJSONHeaders(h http.Header) {
	h.Set("Content-Type", "application/json;charset=UTF-8")
	h.Set("Cache-Control", "max-age=0, no-cache, no-store")
}

func writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = 500
		b = []byte(`{"code":"internal_error","message":"encoding response","status":500}`)
	}
	setJSONHeaders(w.Header())
	if r.Method == http.MethodHead {
		w.WriteHeader(status)
		return
	}
	b = append(b, '\n')
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeErr(w http.ResponseWriter, r *http.Request, e *apiErr) {
	if e.retry > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.retry))
	}
	if e.Status == 401 && e.Code == "unauthorized" && strings.HasSuffix(r.URL.Path, "/b2_authorize_account") {
		w.Header().Set("WWW-Authenticate", `BASIC realm="authorize_account"`)
	}
	writeJSON(w, r, e.Status, e)
}
