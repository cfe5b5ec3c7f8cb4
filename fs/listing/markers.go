package listing

// Directory metadata is kept on the directory's .bzEmpty marker; a
// complete listing of a directory tells whether it has one, and caches the
// answer under MarkerKey.

// MarkerKey is the cache directory under which a directory's .bzEmpty
// marker (with the directory's metadata) is cached.
func MarkerKey(b Bucket, prefix string) string { return "M\x00" + dirKey(b, prefix) }

// noteMarker caches the marker of directory prefix found (or not) in the
// objects of its complete listing.
func (m *Meta) noteMarker(b Bucket, prefix string, objs []Object) {
	for _, o := range objs {
		if !o.Folder && o.Name == prefix+EmptyMarker {
			m.cache.PutEntry(MarkerKey(b, prefix), entryFromObject(EmptyMarker, o))
			return
		}
	}
	m.cache.PutNegative(MarkerKey(b, prefix), EmptyMarker)
}
