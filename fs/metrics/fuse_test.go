package metrics

import (
	"testing"

	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestWrapFUSE: wrapped operations are counted with their errno; the rest
// pass through.
func TestWrapFUSE(t *testing.T) {
	m := New(Options{})
	raw := m.WrapFUSE(fuse.NewDefaultRawFileSystem())
	var out fuse.EntryOut
	if st := raw.Lookup(nil, &fuse.InHeader{}, "x", &out); st != fuse.ENOSYS {
		t.Fatalf("Lookup = %v", st)
	}
	var ao fuse.AttrOut
	raw.GetAttr(nil, &fuse.GetAttrIn{}, &ao)
	raw.Forget(1, 1) // not wrapped, must not panic
	for _, c := range []struct {
		name string
		got  float64
		want float64
	}{
		{"lookups", testutil.ToFloat64(m.fuseOps.WithLabelValues("lookup")), 1},
		{"getattrs", testutil.ToFloat64(m.fuseOps.WithLabelValues("getattr")), 1},
		{"reads", testutil.ToFloat64(m.fuseOps.WithLabelValues("read")), 0},
		{"lookup errors", testutil.ToFloat64(m.fuseErrs.WithLabelValues("lookup", "ENOSYS")), 1},
		{"latency samples", float64(testutil.CollectAndCount(m.fuseLat)), float64(len(fuseOps))},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

// BenchmarkWrapFUSE measures what counting and timing adds to one FUSE
// operation.
func BenchmarkWrapFUSE(b *testing.B) {
	var out fuse.EntryOut
	h := &fuse.InHeader{}
	b.Run("raw", func(b *testing.B) {
		raw := okFS{fuse.NewDefaultRawFileSystem()}
		for i := 0; i < b.N; i++ {
			raw.Lookup(nil, h, "x", &out)
		}
	})
	b.Run("wrapped", func(b *testing.B) {
		raw := New(Options{}).WrapFUSE(okFS{fuse.NewDefaultRawFileSystem()})
		for i := 0; i < b.N; i++ {
			raw.Lookup(nil, h, "x", &out)
		}
	})
}

// okFS answers every lookup with success.
type okFS struct{ fuse.RawFileSystem }

func (okFS) Lookup(<-chan struct{}, *fuse.InHeader, string, *fuse.EntryOut) fuse.Status {
	return fuse.OK
}
