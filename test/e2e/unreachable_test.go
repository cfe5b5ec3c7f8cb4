package e2e

import (
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/b2fs/b2fs/test/b2emu"
)

// tcpProxy forwards 127.0.0.1 connections to a b2emu server and can make
// it unreachable (connections refused) and reachable again.
type tcpProxy struct {
	addr, target string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]bool
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	p := &tcpProxy{target: target, conns: map[net.Conn]bool{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.down)
	return p
}

func (p *tcpProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.forward(c)
		}
	}()
}

func (p *tcpProxy) forward(c net.Conn) {
	u, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[c], p.conns[u] = true, true
	p.mu.Unlock()
	go func() { io.Copy(u, c); u.Close() }()
	io.Copy(c, u)
	c.Close()
}

// down closes the listener and every connection: B2 is unreachable.
func (p *tcpProxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// up listens again on the same address.
func (p *tcpProxy) up(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	p.serve(ln)
}

// TestUnreachableB2IsEIO: with B2 unreachable (connections refused),
// creating a file and reading one fail with EIO, with the cause in
// the log, never with the socket's errno (ECONNREFUSED).
func TestUnreachableB2IsEIO(t *testing.T) {
	ts := newServer(t, b2emu.Options{}, "ubucket")
	put(t, ts, "ubucket", "old", []byte("old content"), nil)
	u, err := url.Parse(ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	p := newTCPProxy(t, u.Host)
	via := *ts
	via.URL = "http://" + p.addr
	m := startMount(t, &via, mountOpts{Source: "ubucket"})
	t.Cleanup(func() { p.up(t) }) // reachable again for the unmount (cleanups run in reverse)

	p.down()
	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, syscall.EIO) {
			t.Errorf("%s with B2 unreachable: %v, want EIO", what, err)
		}
	}
	_, err = os.Create(filepath.Join(m.Dir, "new"))
	check("create", err)
	_, err = os.ReadFile(filepath.Join(m.Dir, "old"))
	check("read", err)
	if log := m.stderr.String(); !strings.Contains(log, "connection refused") {
		t.Errorf("the log does not give the cause:\n%s", log)
	}
}
