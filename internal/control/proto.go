package control

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// Operations a client may ask for.
const (
	OpStatus = "status"
	OpSync   = "sync"
)

// Request is one line of JSON from the client.
type Request struct {
	Op string `json:"op"`
}

// Response is the server's one line of JSON.
type Response struct {
	// Dev is the device of the mount the server serves: the client checks
	// it against the mount it looked up.
	Dev    string  `json:"dev"`
	Error  string  `json:"error,omitempty"`
	Status *Status `json:"status,omitempty"`
}

// Status is what b2fs status shows.
type Status struct {
	Mountpoint string `json:"mountpoint"`
	Source     string `json:"source"`
	PID        int    `json:"pid"`

	PendingFiles         int     `json:"pending_files"`
	PendingBytes         int64   `json:"pending_bytes"`
	OldestPendingSeconds float64 `json:"oldest_pending_seconds"`
	PendingMetadata      int     `json:"pending_metadata_changes"`

	Uploading         int     `json:"uploading"`
	UploadRate        float64 `json:"upload_rate_bytes_per_second"`
	RateWindowSeconds float64 `json:"upload_rate_window_seconds"`
	UploadedBytes     int64   `json:"uploaded_bytes"`
	UploadsDone       int64   `json:"uploads_done"`
	Conflicts         int64   `json:"conflicts"`
	Retries           int64   `json:"retries"`
	UploadErrors      int64   `json:"upload_errors"`
	RecentErrors      []Error `json:"recent_errors"`

	// Calls are the B2 requests by transaction class (A, B, C, other),
	// Cost their estimated price in US dollars, by class and in total.
	Calls     map[string]int64   `json:"b2_calls"`
	Cost      map[string]float64 `json:"estimated_cost_dollars"`
	TotalCost float64            `json:"estimated_cost_dollars_total"`
}

// Error is one recent upload error.
type Error struct {
	Time  time.Time `json:"time"`
	Name  string    `json:"name,omitempty"`
	Error string    `json:"error"`
}

// Write prints s for people.
func (s *Status) Write(w io.Writer) {
	fmt.Fprintf(w, "mount:     %s (%s), pid %d\n", s.Mountpoint, s.Source, s.PID)
	fmt.Fprintf(w, "pending:   %s, %s", plural(s.PendingFiles, "file"), Bytes(s.PendingBytes))
	if s.PendingFiles > 0 {
		fmt.Fprintf(w, "; oldest change %s ago", Age(s.OldestPendingSeconds))
	}
	fmt.Fprintf(w, "\nmetadata:  %s pending\n", plural(s.PendingMetadata, "change"))
	fmt.Fprintf(w, "uploading: %s, %s/s (last %s)\n", plural(s.Uploading, "file"), Bytes(int64(s.UploadRate)), Age(s.RateWindowSeconds))
	fmt.Fprintf(w, "uploaded:  %s, %s since the start; %s, %s, %s\n", plural(int(s.UploadsDone), "upload"), Bytes(s.UploadedBytes),
		plural(int(s.Conflicts), "conflict"), plural(int(s.Retries), "retry"), plural(int(s.UploadErrors), "upload error"))
	classes := make([]string, 0, len(s.Calls))
	for c := range s.Calls {
		classes = append(classes, c)
	}
	sort.Strings(classes)
	var parts []string
	for _, c := range classes {
		parts = append(parts, fmt.Sprintf("class %s %d ($%.6f)", c, s.Calls[c], s.Cost[c]))
	}
	if len(parts) == 0 {
		parts = append(parts, "none")
	}
	fmt.Fprintf(w, "B2 calls:  %s; estimated $%.6f\n", strings.Join(parts, ", "), s.TotalCost)
	if len(s.RecentErrors) > 0 {
		errs := s.RecentErrors
		if len(errs) > maxTextErrors {
			fmt.Fprintf(w, "recent errors (the last %d of %d; --json lists all):\n", maxTextErrors, len(errs))
			errs = errs[len(errs)-maxTextErrors:]
		} else {
			fmt.Fprintln(w, "recent errors:")
		}
		for _, e := range errs {
			name := e.Name
			if name == "" {
				name = "-"
			}
			fmt.Fprintf(w, "  %s %s: %s\n", e.Time.UTC().Format(time.RFC3339), name, oneLine(e.Error))
		}
	}
}

// maxTextErrors bounds the recent errors the text form shows.
const maxTextErrors = 5

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	if strings.HasSuffix(what, "y") {
		return fmt.Sprintf("%d %sies", n, strings.TrimSuffix(what, "y"))
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// Bytes formats n in binary units (1.5 MiB).
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// Age formats seconds as a rounded duration (12s, 3m4s).
func Age(sec float64) string {
	d := time.Duration(sec * float64(time.Second))
	switch {
	case d < 10*time.Second:
		return d.Round(100 * time.Millisecond).String()
	default:
		return d.Round(time.Second).String()
	}
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
