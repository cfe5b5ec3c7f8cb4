package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/b2fs/b2fs/test/b2emu"
)

// demoBucket is the sample bucket --demo mounts.
const demoBucket = "demo-bucket"

// demo is an embedded emulator on 127.0.0.1 serving a sample bucket.
type demo struct {
	url    string
	creds  credentials
	bucket string
	close  func()
}

// startDemo starts b2emu in this process with a temporary data directory
// (removed by close) and seeds the sample bucket.
func startDemo(log *slog.Logger) (*demo, error) {
	var rnd [16]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, err
	}
	key := "K" + hex.EncodeToString(rnd[:])
	emu, err := b2emu.New(b2emu.Options{Key: key, Logger: log.With("component", "b2emu")})
	if err != nil {
		return nil, fmt.Errorf("demo: start emulator: %w", err)
	}
	if err := emu.SeedSample(demoBucket); err != nil {
		emu.Close()
		return nil, fmt.Errorf("demo: seed sample bucket: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		emu.Close()
		return nil, fmt.Errorf("demo: listen: %w", err)
	}
	srv := &http.Server{Handler: emu, ReadHeaderTimeout: 30 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("demo emulator stopped", "err", err)
		}
	}()
	url := "http://" + ln.Addr().String()
	log.Info("demo: embedded B2 emulator running", "endpoint", url, "bucket", demoBucket)
	return &demo{
		url:    url,
		creds:  credentials{keyID: emu.AccountID(), key: key},
		bucket: demoBucket,
		close: func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			srv.Shutdown(ctx)
			emu.Close()
		},
	}, nil
}
