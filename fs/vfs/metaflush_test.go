package vfs

import (
	"maps"
	"testing"
)

func TestPendingMetaMergeInto(t *testing.T) {
	for _, tc := range []struct {
		name             string
		orig, pend, have map[string]string
		want             map[string]string
	}{
		{
			name: "staged file opened before the change takes it",
			orig: map[string]string{"b2fs-mode": "644"},
			pend: map[string]string{"b2fs-mode": "600", "b2fs-x-a": "1"},
			have: map[string]string{"b2fs-mode": "644"},
			want: map[string]string{"b2fs-mode": "600", "b2fs-x-a": "1"},
		},
		{
			name: "later changes of the staged file win",
			orig: map[string]string{"b2fs-mode": "644", "b2fs-uid": "0"},
			pend: map[string]string{"b2fs-mode": "644", "b2fs-uid": "0", "b2fs-x-a": "1"},
			have: map[string]string{"b2fs-mode": "640", "b2fs-uid": "1000", "b2fs-x-a": "2"},
			want: map[string]string{"b2fs-mode": "640", "b2fs-uid": "1000", "b2fs-x-a": "2"},
		},
		{
			name: "a removed attribute is removed",
			orig: map[string]string{"b2fs-x-a": "1", "b2fs-mode": "644"},
			pend: map[string]string{"b2fs-mode": "644"},
			have: map[string]string{"b2fs-x-a": "1", "b2fs-mode": "600"},
			want: map[string]string{"b2fs-mode": "600"},
		},
		{
			name: "the time is the staged file's own",
			orig: map[string]string{"src_last_modified_millis": "1"},
			pend: map[string]string{"src_last_modified_millis": "2"},
			have: map[string]string{"src_last_modified_millis": "1"},
			want: map[string]string{"src_last_modified_millis": "1"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &pendingMeta{orig: tc.orig, info: tc.pend}
			got := maps.Clone(tc.have)
			p.mergeInto(got)
			if !maps.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}
