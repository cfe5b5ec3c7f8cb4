package staging

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// Layout of the staging directory (Options.Dir):
//
//	<Dir>/<instance>/.lock        flock(2)ed by the running Manager
//	<Dir>/<instance>/<id>.data    staged content (sparse)
//	<Dir>/<instance>/<id>.json    its manifest
//
// Every Manager works in an instance directory of its own, so several
// mounts can share a cache directory. An instance directory whose lock is
// free belongs to a b2fs that is gone (stopped with uploads failing, or
// crashed); Recover adopts its staged files.

const lockName = ".lock"

// newInstanceDir creates and locks a fresh instance directory in base.
func newInstanceDir(base string) (string, *os.File, error) {
	var rb [6]byte
	if _, err := rand.Read(rb[:]); err != nil {
		return "", nil, fmt.Errorf("staging: random id: %w", err)
	}
	dir := filepath.Join(base, time.Now().UTC().Format("20060102T150405")+"-"+hex.EncodeToString(rb[:]))
	if err := os.Mkdir(dir, 0o700); err != nil {
		return "", nil, fmt.Errorf("staging: create %s: %w", dir, err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		os.Remove(dir)
		return "", nil, err
	}
	return dir, lock, nil
}

// lockDir takes the instance lock of dir without waiting; it fails with
// EWOULDBLOCK while another Manager holds it.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("staging: lock %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("staging: lock %s: %w", dir, err)
	}
	return f, nil
}

// recoverable reports whether the data file alone gives the content: a new
// file, a rewrite from offset 0, or one whose every byte was local. For
// other files the manifest's list of local ranges may be older than the
// last writes, so bytes still in B2 could not be told from new ones.
func recoverable(m *Manifest) bool {
	if m.BaseFileID == "" || m.RemoteEnd == 0 {
		return true
	}
	var r rangeSet
	for _, s := range m.Local {
		r.add(s.Off, s.End)
	}
	return r.covers(0, m.RemoteEnd)
}

// Recover adopts the staged files of instance directories no running b2fs
// holds: each becomes a pending file of this Manager (visible in the mount
// with its staged content) and is uploaded in the background; one that
// fails again stays pending. Files whose content cannot be reconstructed
// are left where they are and logged. It returns the adopted keys.
func (m *Manager) Recover() []Key {
	ents, err := os.ReadDir(m.opts.Dir)
	if err != nil {
		m.log.Error("look for staged files of earlier runs", "dir", m.opts.Dir, "err", err)
		return nil
	}
	var adopted []*File
	for _, e := range ents {
		dir := filepath.Join(m.opts.Dir, e.Name())
		if !e.IsDir() || dir == m.dir {
			continue
		}
		lock, err := lockDir(dir)
		if err != nil {
			continue // a live instance (or not ours to touch)
		}
		adopted = append(adopted, m.adoptDir(dir)...)
		os.Remove(filepath.Join(dir, lockName))
		if os.Remove(dir) != nil {
			os.WriteFile(filepath.Join(dir, lockName), nil, 0o600)
		}
		lock.Close()
	}
	keys := make([]Key, 0, len(adopted))
	for _, f := range adopted {
		keys = append(keys, f.Key())
	}
	if len(adopted) == 0 {
		return keys
	}
	m.recovering.Add(1)
	go func() {
		defer m.recovering.Done()
		for _, f := range adopted {
			if m.ctx.Err() != nil {
				return
			}
			if err := f.Flush(m.ctx); err == nil {
				m.log.Info("uploaded staged data left by an earlier run", "file", f.Key().String())
			}
			m.Release(f)
		}
	}()
	return keys
}

// adoptDir moves the recoverable staged files of a dead instance into
// this Manager's directory.
func (m *Manager) adoptDir(dir string) []*File {
	mans, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil
	}
	var out []*File
	for _, p := range mans {
		man, err := ReadManifest(p)
		if err != nil || man.ID == "" {
			m.log.Error("unreadable staging manifest left in place", "manifest", p, "err", err)
			continue
		}
		data := filepath.Join(dir, man.ID+".data")
		st, err := os.Stat(data)
		switch {
		case man.State == StateClean:
			os.Remove(data)
			os.Remove(p)
			continue
		case err != nil:
			m.log.Error("staging manifest without data removed", "manifest", p, "file", man.BucketName+"/"+man.Name)
			os.Remove(p)
			continue
		case !recoverable(man):
			m.log.Error("staged changes of an earlier run cannot be reconstructed (part of the file is only in B2 and the record of local ranges may be stale); left in place",
				"file", man.BucketName+"/"+man.Name, "data", data)
			continue
		}
		f, err := m.adopt(man, data, p, st)
		if err != nil {
			m.log.Error("adopt staged data of an earlier run", "file", man.BucketName+"/"+man.Name, "err", err)
			continue
		}
		if f != nil {
			m.log.Warn("found staged data an earlier run did not upload; uploading it", "file", f.Key().String(), "size", st.Size(), "state", man.State)
			out = append(out, f)
		}
	}
	return out
}

// adopt turns one recoverable staged file into a pending File holding a
// reference (released once its upload was tried).
func (m *Manager) adopt(man *Manifest, data, manPath string, st os.FileInfo) (*File, error) {
	key := Key{BucketID: man.BucketID, BucketName: man.BucketName, Name: man.Name}
	newData := filepath.Join(m.dir, man.ID+".data")
	newMan := filepath.Join(m.dir, man.ID+".json")
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.files[key.mk()] != nil {
		return nil, fmt.Errorf("%s is already staged by this mount", key)
	}
	if err := os.Rename(data, newData); err != nil {
		return nil, err
	}
	if err := os.Rename(manPath, newMan); err != nil {
		os.Rename(newData, data)
		return nil, err
	}
	fd, err := os.OpenFile(newData, os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	f := &File{
		m:        m,
		id:       man.ID,
		dataPath: newData,
		manPath:  newMan,
		key:      key,
		data:     fd,
		size:     st.Size(),
		reserved: st.Size(),
		baseID:   man.BaseFileID,
		baseSize: man.BaseSize,
		mtime:    st.ModTime().Truncate(time.Millisecond),
		dirty:    true,
		state:    StateDirty,
		partGen:  map[int64]uint64{},
		pending:  map[int64]bool{},
		idle:     make(chan struct{}),
		refs:     1,
	}
	close(f.idle)
	f.bgCtx, f.bgCancel = context.WithCancel(m.ctx)
	f.local.add(0, f.size)
	m.used.Add(f.size)
	m.files[key.mk()] = f
	return f, nil
}
