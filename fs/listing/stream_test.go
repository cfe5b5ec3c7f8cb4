package listing

import "testing"

func TestStreamFinal(t *testing.T) {
	for _, c := range []struct {
		dir, last, name string
		want            bool
	}{
		{"d/", "d/f0099", "f0098", true},
		{"d/", "d/f0099", "f0099", false}, // the folder d/f0099/ may follow
		{"d/", "d/f0099/", "f0099", true},
		{"d/", "d/f0099 x", "f0099", false},
		{"d/", "d/f0099 x", "f0099 x", false},
		{"", "a-b.c", "a", false},
		{"", "b", "a", true},
		{"", "a/", "a", true},
		{"", "a/x", "a", true},
		{"", "a", "a", false},
		{"", "a.", "a", false},
		{"d/", "c", "a", false},
		{"d/", "e", "a", true},
		{"d/", "d/", "a", false},
	} {
		if want := c.dir+c.name+"/" <= c.last; want != c.want {
			t.Fatalf("table row %+v disagrees with the definition", c)
		}
		if got := final(c.dir, c.last, c.name); got != c.want {
			t.Errorf("final(%q, %q, %q) = %v, want %v", c.dir, c.last, c.name, got, c.want)
		}
	}
}
