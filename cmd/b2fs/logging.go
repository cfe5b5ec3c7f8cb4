package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"log/syslog"
	"os"
	"sync"

	"github.com/b2fs/b2fs/b2client"
)

// logSetup describes where and how b2fs logs.
type logSetup struct {
	format string // text, json or auto
	level  slog.Level
	file   string // append here instead of w
	syslog bool   // send to syslog (daemon mode without a file)
	getenv func(string) string
}

// newLogger builds the logger. Under systemd (JOURNAL_STREAM set) the
// text format leaves out the timestamp, which the journal adds itself.
// Every line goes through a redactor, so the application key never reaches
// a log even if some error message carried it; errors that wrap a B2 error
// get its code as the attribute b2_code. The returned closer closes a log
// file or syslog connection.
func newLogger(ls logSetup, w io.Writer) (*slog.Logger, *redactor, func(), error) {
	closer := func() {}
	switch {
	case ls.file != "":
		f, err := os.OpenFile(ls.file, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("log file: %w", err)
		}
		w, closer = f, func() { f.Close() }
	case ls.syslog:
		sw, err := syslog.New(syslog.LOG_DAEMON|syslog.LOG_INFO, "b2fs")
		if err != nil {
			return nil, nil, nil, fmt.Errorf("syslog: %w (use --log-file)", err)
		}
		w, closer = sw, func() { sw.Close() }
	}
	red := &redactor{w: w}
	opts := &slog.HandlerOptions{Level: ls.level}
	journal := ls.getenv != nil && ls.getenv("JOURNAL_STREAM") != "" && ls.file == ""
	if journal || ls.syslog {
		opts.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}
	}
	var h slog.Handler
	if ls.format == "json" {
		h = slog.NewJSONHandler(red, opts)
	} else {
		h = slog.NewTextHandler(red, opts)
	}
	return slog.New(b2CodeHandler{h}), red, closer, nil
}

// b2CodeHandler adds b2_code=CODE to records whose err attribute wraps a
// *b2client.Error, so every failed operation's line names B2's error code.
type b2CodeHandler struct{ slog.Handler }

func (h b2CodeHandler) Handle(ctx context.Context, r slog.Record) error {
	var code string
	r.Attrs(func(a slog.Attr) bool {
		if err, ok := a.Value.Any().(error); ok && a.Value.Kind() == slog.KindAny {
			var be *b2client.Error
			if errors.As(err, &be) && be.Code != "" {
				code = be.Code
				return false
			}
		}
		return true
	})
	if code != "" {
		r = r.Clone()
		r.AddAttrs(slog.String("b2_code", code))
	}
	return h.Handler.Handle(ctx, r)
}

func (h b2CodeHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return b2CodeHandler{h.Handler.WithAttrs(as)}
}

func (h b2CodeHandler) WithGroup(name string) slog.Handler {
	return b2CodeHandler{h.Handler.WithGroup(name)}
}

// redactor replaces secrets in everything written through it. Each Write
// is one log record (slog writes a record at once).
type redactor struct {
	mu      sync.Mutex
	w       io.Writer
	secrets [][]byte
}

// add registers a secret (ignored when shorter than 8 bytes, which could
// match ordinary text).
func (r *redactor) add(s string) {
	if len(s) < 8 {
		return
	}
	r.mu.Lock()
	r.secrets = append(r.secrets, []byte(s))
	r.mu.Unlock()
}

func (r *redactor) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := p
	for _, s := range r.secrets {
		if bytes.Contains(out, s) {
			out = bytes.ReplaceAll(out, s, []byte("[REDACTED]"))
		}
	}
	if _, err := r.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}
