package main

import (
	"math"
	"testing"
	"time"
)

// TestRateWindow: the rate is the counter's growth over the readings of
// the last 30 seconds; older readings drop out.
func TestRateWindow(t *testing.T) {
	var r rateWindow
	t0 := time.Unix(1000, 0)
	if rate, _ := r.sample(t0, 0); rate != 0 {
		t.Fatalf("first reading: %v", rate)
	}
	r.sample(t0.Add(500*time.Millisecond), 10) // too close: not kept
	if rate, span := r.sample(t0.Add(10*time.Second), 1000); math.Abs(rate-100) > 1e-9 || span != 10*time.Second {
		t.Errorf("after 10s: %v B/s over %v, want 100 over 10s", rate, span)
	}
	// 40s on: the reading at t0 is out of the window, the one at 10s in.
	if rate, span := r.sample(t0.Add(40*time.Second), 4000); math.Abs(rate-100) > 1e-9 || span != 30*time.Second {
		t.Errorf("after 40s: %v B/s over %v, want 100 over 30s", rate, span)
	}
	if got := extendInterval(20 * time.Second); got != 2*time.Second {
		t.Errorf("extendInterval(20s) = %v", got)
	}
	if got := extendInterval(5 * time.Minute); got != 10*time.Second {
		t.Errorf("extendInterval(5m) = %v", got)
	}
}
