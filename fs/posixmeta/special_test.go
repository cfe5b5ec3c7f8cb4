package posixmeta

import "testing"

func TestRdevRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		major, minor uint32
		text         string
	}{
		{1, 3, "1:3"}, {8, 17, "8:17"}, {0, 0, "0:0"}, {4095, 1048575, "4095:1048575"}, {259, 300, "259:300"},
	} {
		dev := Mkdev(tc.major, tc.minor)
		if DevMajor(dev) != tc.major || DevMinor(dev) != tc.minor {
			t.Errorf("Mkdev(%d, %d) = %#x decodes to %d:%d", tc.major, tc.minor, dev, DevMajor(dev), DevMinor(dev))
		}
		if s := FormatRdev(dev); s != tc.text {
			t.Errorf("FormatRdev(%d:%d) = %q, want %q", tc.major, tc.minor, s, tc.text)
		}
		if got, ok := ParseRdev(tc.text); !ok || got != dev {
			t.Errorf("ParseRdev(%q) = %#x %v, want %#x", tc.text, got, ok, dev)
		}
	}
	// The kernel's encoding of 8:17 (what mknod(2) hands FUSE).
	if Mkdev(8, 17) != 0x811 {
		t.Errorf("Mkdev(8, 17) = %#x, want 0x811", Mkdev(8, 17))
	}
	for _, bad := range []string{"", "1", "1:", ":1", "a:b", "4096:0", "0:1048576", "-1:2"} {
		if _, ok := ParseRdev(bad); ok {
			t.Errorf("ParseRdev(%q) accepted", bad)
		}
	}
}
