package b2backend

import (
	"context"
	"time"

	"github.com/b2fs/b2fs/b2client"
	"github.com/b2fs/b2fs/fs/backend"
	"github.com/b2fs/b2fs/fs/versions"
)

// ListVersions lists one page of b2_list_file_versions: uploads and hide
// markers (unfinished large files are left out), and folder entries with a
// delimiter.
func (b *Backend) ListVersions(ctx context.Context, bucketID, prefix, delim, startName, startID string, max int) (versions.Page, error) {
	p, err := b.c.ListFileVersions(ctx, bucketID, b2client.ListOptions{
		Prefix: prefix, Delimiter: delim, StartName: startName, StartID: startID, PageSize: max,
	})
	if err != nil {
		return versions.Page{}, classify("list versions "+prefix, err)
	}
	out := versions.Page{NextName: p.NextName, NextID: p.NextID, Versions: make([]backend.Object, 0, len(p.Files))}
	for _, f := range p.Files {
		v := backend.Object{
			Name:        f.Name,
			FileID:      f.ID,
			Size:        f.Size,
			ContentType: f.ContentType,
			SHA1:        f.SHA1,
			Uploaded:    time.UnixMilli(f.UploadTimestamp),
			Info:        f.Info,
		}
		switch f.Action {
		case b2client.ActionUpload, b2client.ActionCopy, "":
		case b2client.ActionHide:
			v.Hidden, v.Size, v.Info = true, 0, nil
		case b2client.ActionFolder:
			v = backend.Object{Name: f.Name, Folder: true}
		default:
			continue // "start": an unfinished large file has no content yet
		}
		out.Versions = append(out.Versions, v)
	}
	return out, nil
}
