package b2client

import (
	"context"
	"fmt"
)

// ListBuckets lists buckets (b2_list_buckets). With a bucket-restricted key
// and no filter it asks for the allowed bucket, as B2 requires.
func (c *Client) ListBuckets(ctx context.Context, opts ListBucketsOptions) ([]Bucket, error) {
	acct := c.Account()
	in := map[string]any{"accountId": acct.AccountID}
	if opts.ID == "" && opts.Name == "" && acct.BucketID != "" {
		opts.ID = acct.BucketID
	}
	if opts.ID != "" {
		in["bucketId"] = opts.ID
	}
	if opts.Name != "" {
		in["bucketName"] = opts.Name
	}
	if opts.Types != nil {
		in["bucketTypes"] = opts.Types
	}
	var out struct {
		Buckets []wireBucket `json:"buckets"`
	}
	if err := c.apiCall(ctx, "b2_list_buckets", in, &out); err != nil {
		return nil, fmt.Errorf("list buckets: %w", err)
	}
	bs := make([]Bucket, 0, len(out.Buckets))
	for i := range out.Buckets {
		bs = append(bs, out.Buckets[i].bucket())
	}
	return bs, nil
}

// BucketByName returns the named bucket. A missing bucket is an *Error for
// which IsNotFound is true.
func (c *Client) BucketByName(ctx context.Context, name string) (*Bucket, error) {
	bs, err := c.ListBuckets(ctx, ListBucketsOptions{Name: name, Types: []string{"all"}})
	if err != nil {
		return nil, err
	}
	for i := range bs {
		if bs[i].Name == name {
			return &bs[i], nil
		}
	}
	return nil, &Error{Status: 404, Code: "not_found", API: "b2_list_buckets", Message: fmt.Sprintf("bucket %q not found", name)}
}

// CreateBucket creates a bucket of type allPrivate or allPublic.
func (c *Client) CreateBucket(ctx context.Context, name, bucketType string, opts *CreateBucketOptions) (*Bucket, error) {
	in := map[string]any{
		"accountId":  c.Account().AccountID,
		"bucketName": name,
		"bucketType": bucketType,
	}
	if opts != nil {
		if opts.Info != nil {
			in["bucketInfo"] = opts.Info
		}
		if opts.LifecycleRules != nil {
			in["lifecycleRules"] = opts.LifecycleRules
		}
	}
	var out wireBucket
	if err := c.apiCall(ctx, "b2_create_bucket", in, &out); err != nil {
		return nil, fmt.Errorf("create bucket %q: %w", name, err)
	}
	b := out.bucket()
	return &b, nil
}

// DeleteBucket deletes an empty bucket.
func (c *Client) DeleteBucket(ctx context.Context, bucketID string) error {
	in := map[string]any{"accountId": c.Account().AccountID, "bucketId": bucketID}
	if err := c.apiCall(ctx, "b2_delete_bucket", in, nil); err != nil {
		return fmt.Errorf("delete bucket %s: %w", bucketID, err)
	}
	return nil
}
