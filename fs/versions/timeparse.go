package versions

import (
	"errors"
	"fmt"
	"time"
)

// Time names accepted by ParseTime. Forms without a zone are UTC.
var (
	zonedLayouts = []string{
		time.RFC3339Nano,         // 2026-12-01T10:00:00Z, 2026-12-01T10:00:00.5+01:00
		"2006-01-02T15:04Z07:00", // 2026-12-01T10:00Z
	}
	utcLayouts = []string{
		"2006-01-02",
		"2006-01-02T15:04",
		"2006-01-02T15:04:05",
		"2006-01-02T15:04:05.999999999",
	}
)

// ErrBadTime is wrapped by ParseTime's errors.
var ErrBadTime = errors.New("not a time")

// ParseTime parses the name of a moment of the view: an RFC 3339 time
// (2026-12-01T10:00:00Z, 2026-12-01T11:00:00+01:00, fractions allowed), the
// same without seconds (2026-12-01T10:00Z), or a date or local-looking time
// without a zone (2026-12-01, 2026-12-01T10:00, 2026-12-01T10:00:00), which
// is taken as UTC. A date alone means its first instant (00:00:00 UTC).
func ParseTime(s string) (time.Time, error) {
	if len(s) < len("2006-01-02") || len(s) > 64 {
		return time.Time{}, fmt.Errorf("%w: %q (want e.g. 2026-12-01 or 2026-12-01T10:00:00Z)", ErrBadTime, s)
	}
	for _, l := range zonedLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, nil
		}
	}
	for _, l := range utcLayouts {
		if t, err := time.ParseInLocation(l, s, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%w: %q (want e.g. 2026-12-01 or 2026-12-01T10:00:00Z)", ErrBadTime, s)
}
