package main

import (
	"errors"
	"log/slog"
)

// demo is an embedded emulator serving a sample bucket.
type demo struct {
	url    string
	creds  credentials
	bucket string
	close  func()
}

func startDemo(log *slog.Logger) (*demo, error) {
	return nil, errors.New("--demo needs the embedded emulator, which this build does not include yet")
}
