package b2client

import (
	"context"
	"encoding/json"
	"fmt"
)

func (c *Client) listGroups(ctx context.Context, admin string, opts ListGroupsOptions) ([]Group, error) {
	var groups []Group
	start := ""
	for page := 0; page < 100; page++ {
		in := map[string]any{"adminAccountId": admin}
		if opts.GroupName != "" {
			in["groupName"] = opts.GroupName
		}
		if opts.PageSize > 0 {
			in["maxGroupCount"] = opts.PageSize
		}
		if start != "" {
			in["startGroupId"] = start
		}
		var out struct {
			Groups      []json.RawMessage `json:"groups"`
			NextGroupID *string           `json:"nextGroupId"`
		}
		err := c.apiCallURL(ctx, "b2_list_groups", func(a *Account) string { return a.GroupsAPIURL }, in, &out)
		if err != nil {
			return nil, fmt.Errorf("list groups: %w", err)
		}
		for _, raw := range out.Groups {
			var w struct {
				GroupID   json.RawMessage `json:"groupId"`
				GroupName *string         `json:"groupName"`
				Products  []string        `json:"groupProducts"`
				Standing  *struct {
					State *string `json:"state"`
				} `json:"accountStandingDetails"`
			}
			if err := json.Unmarshal(raw, &w); err != nil {
				return nil, fmt.Errorf("list groups: %w: %v", ErrUnexpectedResponse, err)
			}
			g := Group{ID: rawID(w.GroupID), Name: str(w.GroupName), Products: w.Products, Raw: raw}
			if w.Standing != nil {
				g.State = str(w.Standing.State)
			}
			groups = append(groups, g)
		}
		if out.NextGroupID == nil || *out.NextGroupID == "" || *out.NextGroupID == start {
			return groups, nil
		}
		start = *out.NextGroupID
	}
	return groups, fmt.Errorf("list groups: %w: too many pages", ErrUnexpectedResponse)
}

// rawID accepts an ID sent as a JSON string or number.
func rawID(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}
