package staging

import (
	"context"
	"strings"
)

// Conflict checks in batches. Before a background upload of a file based
// on a B2 version, B2's current version of the name is compared with that
// base (checkConflict). With Options.ListCurrent, one listing answers for
// every file due for upload in the same bucket whose name falls in it (one
// b2_list_file_names for all the files a git commit rewrites, instead of
// one each), with what Current would have answered: the newest visible
// version of each name, at the moment the uploads start. A file the page
// does not reach is checked alone.

// ListCurrentFunc lists the newest visible version of the names of
// bucketID that start with prefix, from start on, at most max names in
// name order: their file IDs by name, and whether the listing stopped
// before its end (more), after the name last.
type ListCurrentFunc func(ctx context.Context, bucketID, prefix, start string, max int) (ids map[string]string, last string, more bool, err error)

// conflictBatch bounds the names one listing covers (one Class C call).
const conflictBatch = 1000

// checkTarget is a file whose conflict check is due.
type checkTarget struct {
	f    *File
	key  Key
	base string
}

// dueChecks returns the files other than f, due for upload now, in f's
// bucket, whose base is not checked yet.
func (m *Manager) dueChecks(f *File, bucketID string) []checkTarget {
	now := m.opts.Now()
	wb := m.wb
	var fs []*File
	wb.mu.Lock()
	for g, it := range wb.queue {
		if g != f && !it.due.After(now) {
			fs = append(fs, g)
		}
	}
	checked := make(map[*File]string, len(fs))
	for _, g := range fs {
		checked[g] = wb.queue[g].checkedBase
	}
	wb.mu.Unlock()
	var out []checkTarget
	for _, g := range fs {
		g.mu.Lock()
		t := checkTarget{g, g.key, g.baseID}
		pending := g.dirty && !g.detached
		g.mu.Unlock()
		if pending && t.base != "" && t.key.BucketID == bucketID && checked[g] != t.base {
			out = append(out, t)
		}
	}
	return out
}

// checkBatch checks f (key, base) and the other files due now with one
// listing; it reports false when f was not covered (the caller asks
// Current). Each check is recorded (checkedBase) and a conflict counted.
func (m *Manager) checkBatch(f *File, key Key, base string) bool {
	ts := append(m.dueChecks(f, key.BucketID), checkTarget{f, key, base})
	start, prefix := key.Name, key.Name
	for _, t := range ts {
		start = min(start, t.key.Name)
		for !strings.HasPrefix(t.key.Name, prefix) {
			prefix = prefix[:len(prefix)-1]
		}
	}
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		prefix = prefix[:i+1]
	} else {
		prefix = ""
	}
	ids, last, more, err := m.opts.ListCurrent(m.ctx, key.BucketID, prefix, start, conflictBatch)
	if err != nil {
		return false
	}
	covered := false
	for _, t := range ts {
		if more && t.key.Name > last {
			continue
		}
		m.wb.mu.Lock()
		it := m.wb.queue[t.f]
		if it != nil {
			it.checkedBase = t.base
		}
		m.wb.mu.Unlock()
		if t.f == f {
			covered = true
		}
		if cur, ok := ids[t.key.Name]; ok && cur != t.base {
			m.conflict(t.key, t.base, cur)
		}
	}
	return covered
}

// conflict logs and counts a conflict found for key.
func (m *Manager) conflict(key Key, base, current string) {
	m.wb.conflicts.Add(1)
	m.log.Warn("conflict: another writer stored a newer version of the file while it waited for upload; uploading anyway, both versions stay in B2",
		"file", key.String(), "base_file_id", base, "b2_current", current)
}
