package staging

// SparesForTest returns how many pairs the pool holds.
func (m *Manager) SparesForTest() int {
	m.spareMu.Lock()
	defer m.spareMu.Unlock()
	return len(m.spares)
}
