package versions

import (
	"context"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/b2fs/b2fs/fs/backend"
)

// fakeLister serves b2_list_file_versions semantics from memory: versions
// sorted by name and newest first, prefix, delimiter "/" roll-up, paging
// by (startName, startID).
type fakeLister struct {
	mu    sync.Mutex
	vs    []backend.Object
	calls int
	err   error
	seq   int
}

func (f *fakeLister) add(name, body string, at time.Time, hidden bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	id := "id" + itoa(uint64(f.seq))
	f.vs = append(f.vs, backend.Object{Name: name, FileID: id, Size: int64(len(body)), Uploaded: at, Hidden: hidden,
		Info: map[string]string{"body": body}})
	sort.SliceStable(f.vs, func(i, j int) bool {
		if f.vs[i].Name != f.vs[j].Name {
			return f.vs[i].Name < f.vs[j].Name
		}
		return f.vs[i].Uploaded.After(f.vs[j].Uploaded)
	})
}

func (f *fakeLister) ListVersions(ctx context.Context, bucketID, prefix, delim, startName, startID string, max int) (Page, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return Page{}, f.err
	}
	start := 0
	if startName != "" {
		start = sort.Search(len(f.vs), func(i int) bool { return f.vs[i].Name >= startName })
		if startID != "" {
			for start < len(f.vs) && f.vs[start].Name == startName && f.vs[start].FileID != startID {
				start++
			}
		}
	}
	var p Page
	lastFolder := ""
	for i := start; i < len(f.vs); i++ {
		v := f.vs[i]
		if !strings.HasPrefix(v.Name, prefix) {
			if v.Name > prefix {
				break
			}
			continue
		}
		if delim != "" {
			if j := strings.Index(v.Name[len(prefix):], delim); j >= 0 {
				folder := v.Name[:len(prefix)+j+1]
				if folder == lastFolder {
					continue
				}
				if len(p.Versions) == max {
					p.NextName, p.NextID = v.Name, v.FileID
					return p, nil
				}
				lastFolder = folder
				p.Versions = append(p.Versions, backend.Object{Name: folder, Folder: true})
				continue
			}
		}
		if len(p.Versions) == max {
			p.NextName, p.NextID = v.Name, v.FileID
			return p, nil
		}
		p.Versions = append(p.Versions, v)
	}
	return p, nil
}

func (f *fakeLister) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}
