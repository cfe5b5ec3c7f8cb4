package cache

import (
	"fmt"
	"testing"
	"time"
)

func benchEntries(n int) []Entry {
	es := make([]Entry, n)
	for i := range es {
		// Reverse order, so PutListing's sort has work to do.
		es[i] = Entry{Name: fmt.Sprintf("f%06d.txt", n-i), Size: int64(i), ModTime: time.UnixMilli(1_700_000_000_000), FileID: fmt.Sprintf("4_z%024d", i)}
	}
	return es
}

func newBenchCache(b *testing.B) *Cache {
	b.Helper()
	c, err := New(Options{DirTTL: time.Hour, AttrTTL: time.Hour, NegativeTTL: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.Close)
	return c
}

// BenchmarkPutListing caches the listing of one directory (copy, sort and
// the synchronous ristretto set), as every cold readdir does.
func BenchmarkPutListing(b *testing.B) {
	for _, n := range []int{100, 10000} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			c := newBenchCache(b)
			es := benchEntries(n)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				c.PutListing("bucket\x00dir/", es)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/entry")
		})
	}
}

// BenchmarkLookupListed answers lookups from a cached 10,000-entry listing
// (what ls -l does once per name after readdir), from all CPUs at once.
func BenchmarkLookupListed(b *testing.B) {
	const n = 10000
	c := newBenchCache(b)
	c.PutListing("bucket\x00dir/", benchEntries(n))
	names := make([]string, 1024)
	for i := range names {
		names[i] = fmt.Sprintf("f%06d.txt", 1+(i*7919)%n)
	}
	names[0] = "missing.txt"
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			_, r := c.Lookup("bucket\x00dir/", names[i%len(names)])
			if r == Unknown {
				b.Error("listing not cached")
				return
			}
			i++
		}
	})
}

// BenchmarkLookupEntry answers lookups from single cached entries and
// negative entries (names looked up without a listing of their directory).
func BenchmarkLookupEntry(b *testing.B) {
	c := newBenchCache(b)
	const n = 4096
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("f%06d", i)
		if i%2 == 0 {
			c.PutEntry("bucket\x00dir/", Entry{Name: name, Size: int64(i)})
		} else {
			c.PutNegative("bucket\x00dir/", name)
		}
	}
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("f%06d", i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			c.Lookup("bucket\x00dir/", names[i%n])
			i++
		}
	})
}

// BenchmarkPutEntry caches one looked-up entry (a synchronous set).
func BenchmarkPutEntry(b *testing.B) {
	c := newBenchCache(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.PutEntry("bucket\x00dir/", Entry{Name: "f" + fmt.Sprint(i%65536), Size: 1})
	}
}
