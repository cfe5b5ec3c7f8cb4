package staging

import (
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

func (m *Manager) takeSpare() (spare, bool) {
	m.spareMu.Lock()
	defer m.spareMu.Unlock()
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

// dropSpares deletes the pooled files.
func (m *Manager) dropSpares() {
	m.spareMu.Lock()
	sps := m.spares
	m.spares = nil
	m.spareMu.Unlock()
	for _, sp := range sps {
		sp.data.Close()
		sp.man.Close()
		m.fs.Remove(filepath.Join(m.dir, sp.id+".data"))
		m.fs.Remove(filepath.Join(m.dir, sp.id+".json"))
		m.dirChanged()
	}
}
