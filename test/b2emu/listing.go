package b2emu

import (
	"strings"
)

func (s *Server) apiListFileNames(c *call) (any, *apiErr)    { return s.listFiles(c, false) }
func (s *Server) apiListFileVersions(c *call) (any, *apiErr) { return s.listFiles(c, true) }

// effectivePrefix applies a key's name-prefix restriction to a listing
// prefix. In v2+ a prefix outside the key's prefix is 401; in v1 the listing
// is filtered silently. It returns the prefix names must start with, and
// empty=true when nothing can match.
func effectivePrefix(a *authInfo, version int, prefix string) (scan string, empty bool, e *apiErr) {
	k := a.key
	if k.NamePrefix == nil || strings.HasPrefix(prefix, *k.NamePrefix) {
		return prefix, false, nil
	}
	if version != 1 {
		return "", false, unauthorized("application key is restricted to names starting with %q; list with a prefix inside it", *k.NamePrefix)
	}
	if strings.HasPrefix(*k.NamePrefix, prefix) {
		return *k.NamePrefix, false, nil
	}
	return "", true, nil
}

func listMax(p params, name string, def, max int64) (int64, *apiErr) {
	n, _, e := p.int(name)
	if e != nil {
		return 0, e
	}
	if n == 0 {
		n = def
	}
	if n < 0 || n > max {
		return 0, errf(400, "out_of_range", "%s must be between 1 and %d", name, max)
	}
	return n, nil
}

func (s *Server) listFiles(c *call, versions bool) (any, *apiErr) {
	bucketID, e := c.p.reqStr("bucketId")
	if e != nil {
		return nil, e
	}
	startName, _, e := c.p.str("startFileName")
	if e != nil {
		return nil, e
	}
	var startID string
	if versions {
		var has bool
		startID, has, e = c.p.str("startFileId")
		if e != nil {
			return nil, e
		}
		if has {
			if !c.p.has("startFileName") {
				return nil, badRequest("startFileId requires startFileName")
			}
			if !validFileID(startID) {
				return nil, errf(400, "invalid_file_id", "Invalid startFileId: %s", startID)
			}
		}
	}
	max, e := listMax(c.p, "maxFileCount", 100, 10000)
	if e != nil {
		return nil, e
	}
	prefix, _, e := c.p.str("prefix")
	if e != nil {
		return nil, e
	}
	delim, _, e := c.p.str("delimiter")
	if e != nil {
		return nil, e
	}
	if e := c.auth.check("listFiles", bucketID, nil); e != nil {
		return nil, e
	}
	scanPrefix, empty, e := effectivePrefix(c.auth, c.route.version, prefix)
	if e != nil {
		return nil, e
	}
	v1 := c.route.version == 1

	s.mu.Lock()
	defer s.mu.Unlock()
	b, e := s.bucketFor(c.auth, bucketID)
	if e != nil {
		return nil, e
	}
	files := make([]*fileObj, 0, min(max, 1000))
	var nextName, nextID any
	if empty {
		return listResult(files, nil, nil, versions), nil
	}
	startKey := startName
	if scanPrefix > startKey {
		startKey = scanPrefix
	}
	cutoff := int64(1<<63 - 1)
	if s.opts.ListingLag > 0 {
		cutoff = s.now().Add(-s.opts.ListingLag).UnixMilli()
	}
	cur := b.names.seek(startKey)
	lastFolder := ""
	full := func() bool { return int64(len(files)) >= max }
scan:
	for cur.valid() {
		ent := cur.entry()
		if !strings.HasPrefix(ent.name, scanPrefix) {
			break
		}
		if folder := rollUp(ent.name, prefix, delim); folder != "" {
			end := folderEnd(folder)
			found := false
			if versions {
				for k := cur; !found && k.valid() && k.entry().name < end && strings.HasPrefix(k.entry().name, scanPrefix); k.next() {
					for _, v := range k.entry().versions {
						if v.added <= cutoff {
							found = true
							break
						}
					}
				}
			} else {
				// look for a visible file under the folder
				for k := cur; k.valid() && k.entry().name < end && strings.HasPrefix(k.entry().name, scanPrefix); k.next() {
					if k.entry().listedVisible(cutoff) {
						found = true
						break
					}
				}
			}
			if found {
				if full() {
					nextName = folder
					break scan
				}
				files = append(files, s.folderJSON(folder, b.ID, v1))
				lastFolder = folder
			}
			cur = b.names.seek(end)
			continue
		}
		if versions {
			for _, v := range ent.versions {
				if ent.name == startName && startID != "" && v.ID < startID || v.added > cutoff {
					continue
				}
				if full() {
					nextName, nextID = ent.name, v.ID
					break scan
				}
				files = append(files, s.fileJSON(v, v1, c.auth.key))
				lastFolder = ""
			}
		} else if ent.listedVisible(cutoff) {
			if full() {
				nextName = ent.name
				break scan
			}
			files = append(files, s.fileJSON(ent.listedCurrent(cutoff), v1, c.auth.key))
			lastFolder = ""
		}
		cur.next()
	}
	if nextName != nil && lastFolder != "" {
		nextName, nextID = folderEnd(lastFolder), nil
	}
	return listResult(files, nextName, nextID, versions), nil
}

func listResult(files []*fileObj, nextName, nextID any, versions bool) map[string]any {
	out := map[string]any{"files": files, "nextFileName": nextName}
	if versions {
		out["nextFileId"] = nextID
	}
	return out
}

func (s *Server) apiListUnfinished(c *call) (any, *apiErr) {
	bucketID, e := c.p.reqStr("bucketId")
	if e != nil {
		return nil, e
	}
	prefix, _, e := c.p.str("namePrefix")
	if e != nil {
		return nil, e
	}
	startID, hasStart, e := c.p.str("startFileId")
	if e != nil {
		return nil, e
	}
	if hasStart && !validFileID(startID) {
		return nil, errf(400, "invalid_file_id", "Invalid startFileId: %s", startID)
	}
	max, e := listMax(c.p, "maxFileCount", 100, 100)
	if e != nil {
		return nil, e
	}
	if e := c.auth.check("listFiles", bucketID, nil); e != nil {
		return nil, e
	}
	scanPrefix, empty, e := effectivePrefix(c.auth, c.route.version, prefix)
	if e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b, e := s.bucketFor(c.auth, bucketID)
	if e != nil {
		return nil, e
	}
	files := []*fileObj{}
	var next any
	if !empty {
		for _, f := range b.unfinished {
			// ids sort newest first, so older files have larger ids
			if hasStart && f.ID > startID {
				continue
			}
			if !strings.HasPrefix(f.Name, scanPrefix) {
				continue
			}
			if int64(len(files)) >= max {
				next = f.ID
				break
			}
			files = append(files, s.fileJSON(f, c.route.version == 1, c.auth.key))
		}
	}
	return map[string]any{"files": files, "nextFileId": next, "nextFileName": nil}, nil
}
