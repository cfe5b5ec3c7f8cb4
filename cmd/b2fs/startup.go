package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/b2fs/b2fs/b2client"
)

// startupRetryPause is the pause between two rounds of authorization
// attempts (each round makes b2client's own attempts with back-off).
const startupRetryPause = 5 * time.Second

// authorizer wraps a b2client Observer so that every failed authorization
// request while b2fs starts is logged as one line: which endpoint, which
// attempt, what went wrong. The key is never part of the request URL or the
// error, and every log line passes the redactor as well.
type authorizer struct {
	endpoint string
	log      *slog.Logger
	notify   *notifier
	deadline time.Time // zero: wait forever

	starting atomic.Bool
	attempts atomic.Int64
	lastErr  atomic.Value // string: the last failure logged
	next     b2client.Observer
}

func (a *authorizer) observe(ev b2client.RequestEvent) {
	if a.next != nil {
		a.next(ev)
	}
	// Only failures that are retried: a rejected key fails the start at
	// once with its own message.
	if ev.API != "b2_authorize_account" || ev.Err == nil || !a.starting.Load() || !b2client.IsRetryable(ev.Err) ||
		errors.Is(ev.Err, context.Canceled) || errors.Is(ev.Err, context.DeadlineExceeded) {
		return
	}
	n := a.attempts.Add(1)
	a.lastErr.Store(oneLine(ev.Err))
	args := []any{"endpoint", a.endpoint, "attempt", n, "err", oneLine(ev.Err)}
	if !a.deadline.IsZero() {
		args = append(args, "gives_up_in", time.Until(a.deadline).Round(time.Second).String())
	}
	a.log.Warn("B2 authorization failed; retrying", args...)
	a.notify.waiting(fmt.Sprintf("waiting for B2 at %s (attempt %d): %s", a.endpoint, n, oneLine(ev.Err)))
}

// connect authorizes with B2. Transient failures (network errors, 408, 429,
// 5xx) are retried until timeout has passed (0: until ctx ends); a key B2
// rejects, or any other permanent error, fails at once. The exit status of
// a failure is 1, which systemd's Restart=on-failure restarts.
func connect(ctx context.Context, cfg b2client.Config, timeout time.Duration, log *slog.Logger, n *notifier) (*b2client.Client, error) {
	a := &authorizer{endpoint: cfg.Endpoint, log: log, notify: n, next: cfg.Observer}
	cfg.Observer = a.observe
	if timeout > 0 {
		a.deadline = time.Now().Add(timeout)
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, a.deadline)
		defer cancel()
	}
	a.starting.Store(true)
	defer a.starting.Store(false)
	for {
		client, err := b2client.New(ctx, cfg)
		if err == nil {
			if a.attempts.Load() > 0 {
				log.Info("B2 authorization succeeded", "endpoint", cfg.Endpoint, "attempts", a.attempts.Load()+1)
			}
			return client, nil
		}
		if errors.Is(err, b2client.ErrCredentialsRejected) {
			return nil, errors.New("B2 rejected the application key (check B2_APPLICATION_KEY_ID and B2_APPLICATION_KEY)")
		}
		if ctx.Err() != nil {
			if !a.deadline.IsZero() && !time.Now().Before(a.deadline) {
				last, _ := a.lastErr.Load().(string)
				if last == "" {
					last = oneLine(err)
				}
				return nil, fmt.Errorf("cannot reach B2 at %s within --startup-timeout=%v (%d attempts; last error: %s)", cfg.Endpoint, timeout, a.attempts.Load(), last)
			}
			return nil, fmt.Errorf("interrupted while authorizing with %s: %w", cfg.Endpoint, err)
		}
		if !b2client.IsRetryable(err) {
			return nil, fmt.Errorf("cannot authorize with %s: %w", cfg.Endpoint, err)
		}
		// b2client gave up after its own attempts; start another round.
		select {
		case <-ctx.Done():
		case <-time.After(startupRetryPause):
		}
	}
}

// daemonWait is how long a --daemon parent (and so mount(8)) waits for the
// mount: the wait for B2, then the rest of the start. 0 waits forever.
func daemonWait(startup time.Duration) time.Duration {
	if startup == 0 {
		return 0
	}
	return startup + 2*startupTimeout + time.Minute
}
