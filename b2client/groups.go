package b2client

import "context"

// ListGroups lists the Partner API groups administered by adminAccountID
// (b2_list_groups on the groupsApiUrl), following every page.
func (c *Client) ListGroups(ctx context.Context, adminAccountID string, opts ListGroupsOptions) ([]Group, error) {
	return c.listGroups(ctx, adminAccountID, opts)
}
