// Listing the staged files of a bucket, a directory or the whole manager.

package staging

import (
	"sort"
	"strings"
)

// Under returns the staged files of bucketID whose names start with
// prefix, sorted by name. With direct set, only names with no "/" after the
// prefix (the files of one directory).
func (m *Manager) Under(bucketID, prefix string, direct bool) []*File {
	m.mu.Lock()
	var out []*File
	for k, f := range m.files {
		if k.bucketID != bucketID || !strings.HasPrefix(k.name, prefix) {
			continue
		}
		if direct && strings.Contains(k.name[len(prefix):], "/") {
			continue
		}
		out = append(out, f)
	}
	m.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Key().Name < out[j].Key().Name })
	return out
}

// Pending returns the staged files whose changes are not in B2, sorted by
// name.
func (m *Manager) Pending() []Key {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Key
	for _, f := range m.files {
		f.mu.Lock()
		if f.dirty && !f.detached {
			out = append(out, f.key)
		}
		f.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}
