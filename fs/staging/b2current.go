package staging

import (
	"context"

	"github.com/b2fs/b2fs/b2client"
)

// Current returns the newest visible version of key's name, nil when the
// name has none (never uploaded, hidden or deleted). It costs one
// b2_list_file_names call (Class C). It is a CurrentFunc for Recover.
func (b *B2Remote) Current(ctx context.Context, key Key) (*Version, error) {
	page, err := b.C.ListFileNames(ctx, key.BucketID, b2client.ListOptions{Prefix: key.Name, StartName: key.Name, PageSize: 1})
	if err != nil {
		return nil, err
	}
	for i := range page.Files {
		f := &page.Files[i]
		if f.Name == key.Name && f.Action == "upload" {
			v := version(f)
			return &v, nil
		}
	}
	return nil, nil
}
