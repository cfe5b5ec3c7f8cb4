package staging

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
)

// spare is an empty data file and an empty manifest ready for reuse. An
// empty manifest marks an unused pair (Recover removes such pairs).
type spare struct {
	id        string
	data, man FSFile
}

// maxSpares bounds the pool of reusable staging files.
const maxSpares = 32

// Prepared pairs (write-back mode): a close must make the directory
// entries of its staged files durable, which costs a directory fsync when
// they were created since the last one. So that a new file's close does
// not pay it, a background goroutine keeps the pool filled with pairs it
// created and then covered with one directory fsync per batch: a file
// that takes one has names that are final and already durable (a pair is
// never renamed; its empty manifest tells Recover it is unused). The pool
// also takes back the emptied pairs of files let go (discardFiles).
//
// Removing a pair's entries needs no directory fsync before a close
// returns: a removal a power cut undoes brings back a pair whose durable
// manifest is clean (fsynced after the upload) or empty (a detached or
// unused file), which Recover removes again.

// spareLow is the pool size below which the preparer refills it.
const spareLow = maxSpares / 2

func (m *Manager) takeSpare() (spare, bool) {
	m.spareMu.Lock()
	defer m.spareMu.Unlock()
	if m.opts.WriteBack && len(m.spares) <= spareLow {
		select {
		case m.spareWake <- struct{}{}:
		default:
		}
	}
	if len(m.spares) == 0 {
		return spare{}, false
	}
	sp := m.spares[len(m.spares)-1]
	m.spares = m.spares[:len(m.spares)-1]
	return sp, true
}

// putSpare keeps an emptied pair for reuse; false when the pool is full
// or closed.
func (m *Manager) putSpare(sp spare) bool {
	m.spareMu.Lock()
	defer m.spareMu.Unlock()
	if len(m.spares) >= maxSpares || m.ctx.Err() != nil {
		return false
	}
	m.spares = append(m.spares, sp)
	return true
}

// prepareSpares is the preparer (write-back mode): until the Manager
// closes, it refills the pool whenever takeSpare finds it low.
func (m *Manager) prepareSpares() {
	for {
		m.spareMu.Lock()
		want := maxSpares - len(m.spares)
		m.spareMu.Unlock()
		if want > 0 {
			if err := m.makeSpares(want); err != nil && m.ctx.Err() == nil {
				m.log.Warn("prepare staging files", "err", err)
			}
		}
		select {
		case <-m.spareWake:
		case <-m.ctx.Done():
			return
		}
	}
}

// makeSpares creates n pairs, makes their entries durable with one
// directory fsync, and pools them.
func (m *Manager) makeSpares(n int) error {
	var made []spare
	var err error
	for range n {
		var sp spare
		if sp, err = m.createPair(); err != nil {
			break
		}
		made = append(made, sp)
	}
	if len(made) > 0 {
		m.dirChanged()
		if serr := m.syncDir(); serr != nil {
			err = serr
			for _, sp := range made {
				m.removePair(sp)
			}
			made = nil
		}
	}
	for _, sp := range made {
		if !m.putSpare(sp) {
			m.removePair(sp)
		}
	}
	return err
}

// createPair creates an empty data file and an empty manifest.
func (m *Manager) createPair() (spare, error) {
	var rb [12]byte
	if _, err := rand.Read(rb[:]); err != nil {
		return spare{}, fmt.Errorf("staging: random id: %w", err)
	}
	sp := spare{id: hex.EncodeToString(rb[:])}
	var err error
	if sp.data, err = m.fs.OpenFile(filepath.Join(m.dir, sp.id+".data"), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600); err != nil {
		return spare{}, fmt.Errorf("staging: create %s.data: %w", sp.id, err)
	}
	if sp.man, err = m.fs.OpenFile(filepath.Join(m.dir, sp.id+".json"), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600); err != nil {
		sp.data.Close()
		m.fs.Remove(filepath.Join(m.dir, sp.id+".data"))
		return spare{}, fmt.Errorf("staging: create %s.json: %w", sp.id, err)
	}
	return sp, nil
}

// removePair closes and deletes a pair.
func (m *Manager) removePair(sp spare) {
	sp.data.Close()
	sp.man.Close()
	m.fs.Remove(filepath.Join(m.dir, sp.id+".data"))
	m.fs.Remove(filepath.Join(m.dir, sp.id+".json"))
}

// dropSpares deletes the pooled files.
func (m *Manager) dropSpares() {
	m.spareMu.Lock()
	sps := m.spares
	m.spares = nil
	m.spareMu.Unlock()
	for _, sp := range sps {
		m.removePair(sp)
	}
}
