package errs

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestErrorKindAndCause(t *testing.T) {
	cause := fmt.Errorf("b2: %w", context.DeadlineExceeded)
	err := fmt.Errorf("outer: %w", E(ErrNotEmpty, "rmdir", "bucket/d/", cause))
	if !errors.Is(err, ErrNotEmpty) || !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrExist) {
		t.Fatalf("kinds of %v", err)
	}
	if got, want := err.Error(), "outer: rmdir bucket/d/: directory not empty: b2: context deadline exceeded"; got != want {
		t.Fatalf("message %q, want %q", got, want)
	}
	if got := E(ErrExist, "", "", nil).Error(); got != "file exists" {
		t.Fatalf("bare kind: %q", got)
	}
	w := Wrapf(ErrNoSpace, errors.New("disk"), "write %s", "f")
	if !errors.Is(w, ErrNoSpace) || w.Error() != "write f: no space left: disk" {
		t.Fatalf("Wrapf: %v", w)
	}
}
