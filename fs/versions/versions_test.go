package versions

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/b2fs/b2fs/b2client/nameenc"
	"github.com/b2fs/b2fs/cache"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func newView(t *testing.T, f *fakeLister, o Options) (*View, *time.Time) {
	t.Helper()
	now := t0.Add(24 * time.Hour)
	c, err := cache.New(cache.Options{DirTTL: time.Minute, AttrTTL: time.Minute, NegativeTTL: time.Minute,
		Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	o.Lister, o.Cache = f, c
	v, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return v, &now
}

func names(es []Entry) string {
	var s []string
	for _, e := range es {
		n := e.Name
		if e.Dir {
			n += "/"
		} else {
			n += "=" + e.Version.Info["body"]
		}
		s = append(s, n)
	}
	return strings.Join(s, " ")
}

func TestAtShowsEachMoment(t *testing.T) {
	f := &fakeLister{}
	for i, body := range []string{"one", "two", "three", "four"} {
		f.add("docs/report.txt", body, t0.Add(time.Duration(i)*time.Hour), false)
	}
	f.add("docs/old/a.txt", "a", t0, false)
	f.add("docs/old/b/c.txt", "c", t0, false)
	f.add("docs/old/a.txt", "", t0.Add(2*time.Hour), true)
	f.add("docs/old/b/c.txt", "", t0.Add(2*time.Hour), true)
	f.add("docs/new/x.txt", "x", t0.Add(3*time.Hour), false)
	f.add("docs/.bzEmpty", "", t0, false)
	f.add("docs/empty/.bzEmpty", "", t0, false)
	v, _ := newView(t, f, Options{})
	ctx := context.Background()
	cases := []struct {
		at   time.Time
		want string
	}{
		{t0.Add(-time.Second), ""},
		{t0, "empty/ old/ report.txt=one"},
		{t0.Add(90 * time.Minute), "empty/ old/ report.txt=two"},
		{t0.Add(2 * time.Hour), "empty/ report.txt=three"},
		{t0.Add(5 * time.Hour), "empty/ new/ report.txt=four"},
	}
	for _, c := range cases {
		es, err := v.At(ctx, "b", "", "docs/", c.at)
		if err != nil {
			t.Fatal(err)
		}
		if got := names(es); got != c.want {
			t.Errorf("at %v: %q, want %q", c.at, got, c.want)
		}
	}
	es, err := v.At(ctx, "b", "", "docs/old/", t0.Add(time.Hour))
	if err != nil || names(es) != "a.txt=a b/" {
		t.Fatalf("docs/old at +1h: %q %v", names(es), err)
	}
	es, err = v.At(ctx, "b", "", "docs/old/b/", t0.Add(time.Hour))
	if err != nil || names(es) != "c.txt=c" {
		t.Fatalf("docs/old/b at +1h: %q %v", names(es), err)
	}
	e, ok, err := v.LookupAt(ctx, "b", "", "docs/", "empty", t0)
	if err != nil || !ok || !e.Dir || e.Version.Name != "docs/empty/.bzEmpty" {
		t.Fatalf("lookup empty: %+v %v %v", e, ok, err)
	}
	if _, ok, _ := v.LookupAt(ctx, "b", "", "docs/", "new", t0); ok {
		t.Fatal("docs/new exists before its first file")
	}
	// The whole bucket came from one subtree listing of the root.
	es, err = v.At(ctx, "b", "", "", t0)
	if err != nil || names(es) != "docs/" {
		t.Fatalf("root: %q %v", names(es), err)
	}
	if n := f.count(); n != 2 { // docs/ (first), then the root
		t.Fatalf("%d list calls, want 2", n)
	}
}

func TestAtReusesAncestorListing(t *testing.T) {
	f := &fakeLister{}
	f.add("a/b/c/d.txt", "d", t0, false)
	v, _ := newView(t, f, Options{})
	ctx := context.Background()
	for _, p := range []string{"", "a/", "a/b/", "a/b/c/"} {
		if _, err := v.At(ctx, "b", "", p, t0); err != nil {
			t.Fatal(err)
		}
	}
	if h, err := v.History(ctx, "b", "", "a/b/c/d.txt"); err != nil || len(h) != 1 {
		t.Fatalf("history %v %v", h, err)
	}
	if n := f.count(); n != 1 {
		t.Fatalf("%d list calls, want 1", n)
	}
}

func TestHistoryNamesAndCurrent(t *testing.T) {
	f := &fakeLister{}
	f.add("f", "1", t0, false)
	f.add("f", "2", t0.Add(time.Second), false)
	f.add("f", "", t0.Add(2*time.Second+5*time.Millisecond), true)
	f.add("f", "4", t0.Add(3*time.Second), false)
	f.add("g", "1", t0, false)
	f.add("g", "", t0.Add(time.Second), true)
	f.add("dir/x", "x", t0, false)
	v, _ := newView(t, f, Options{})
	ctx := context.Background()
	h, err := v.History(ctx, "b", "", "f")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range h {
		s := n.Name + "=" + n.Version.Info["body"]
		if n.Current {
			s += "*"
		}
		got = append(got, s)
	}
	want := []string{"2026-12-01T10:00:00.000Z=1", "2026-12-01T10:00:01.000Z=2",
		"2026-12-01T10:00:02.005Z.deleted=", "2026-12-01T10:00:03.000Z=4*"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("history %q, want %q", got, want)
	}
	h, _ = v.History(ctx, "b", "", "g")
	if len(h) != 2 || h[1].Current || !h[1].Version.Hidden || h[1].Name != "2026-12-01T10:00:01.000Z.deleted" {
		t.Fatalf("deleted g: %+v", h)
	}
	ch, err := v.HistoryChildren(ctx, "b", "", "")
	if err != nil || strings.Join(ch, " ") != "dir f g" {
		t.Fatalf("children %q %v", ch, err)
	}
	n, ok, err := v.LookupVersion(ctx, "b", "", "f", "2026-12-01T10:00:01.000Z")
	if err != nil || !ok || n.Version.Info["body"] != "2" {
		t.Fatalf("lookup version: %+v %v %v", n, ok, err)
	}
	if _, ok, _ := v.LookupVersion(ctx, "b", "", "f", "2026-12-01T10:00:01Z"); ok {
		t.Fatal("a name not in the history was found")
	}
	if ok, _ := v.HasHistory(ctx, "b", "", "", "g"); !ok {
		t.Fatal("deleted g has no history")
	}
	if ok, _ := v.HasHistory(ctx, "b", "", "", "h"); ok {
		t.Fatal("h has a history")
	}
}

func TestHistorySameMillisecond(t *testing.T) {
	f := &fakeLister{}
	f.add("f", "1", t0, false)
	f.add("f", "2", t0, false)
	v, _ := newView(t, f, Options{})
	h, err := v.History(context.Background(), "b", "", "f")
	if err != nil || len(h) != 2 || h[0].Name == h[1].Name || !strings.HasPrefix(h[1].Name, h[0].Name) {
		t.Fatalf("history %+v %v", h, err)
	}
}

// TestCostThousandFiles: a directory of 1,000 files with 3 versions each,
// browsed at a moment and through every file's history, costs
// ceil(3,000/10,000) = 1 list call.
func TestCostThousandFiles(t *testing.T) {
	f := &fakeLister{}
	for i := 0; i < 1000; i++ {
		for j := 0; j < 3; j++ {
			f.add(fmt.Sprintf("big/f%04d", i), fmt.Sprint(j), t0.Add(time.Duration(j)*time.Hour), false)
		}
	}
	v, _ := newView(t, f, Options{})
	ctx := context.Background()
	es, err := v.At(ctx, "b", "", "big/", t0.Add(90*time.Minute))
	if err != nil || len(es) != 1000 || es[0].Version.Info["body"] != "1" {
		t.Fatalf("at: %d entries, %v", len(es), err)
	}
	for _, e := range es {
		if _, ok, err := v.LookupAt(ctx, "b", "", "big/", e.Name, t0); err != nil || !ok {
			t.Fatal(e.Name, ok, err)
		}
		if h, err := v.History(ctx, "b", "", "big/"+e.Name); err != nil || len(h) != 3 {
			t.Fatal(e.Name, len(h), err)
		}
	}
	if n := f.count(); n != 1 {
		t.Fatalf("%d list calls, want 1", n)
	}
	// Page size 1000: ceil(3000/1000) = 3.
	f2 := &fakeLister{vs: f.vs}
	v2, _ := newView(t, f2, Options{PageSize: 1000})
	if _, err := v2.At(ctx, "b", "", "big/", t0); err != nil {
		t.Fatal(err)
	}
	if n := f2.count(); n != 3 {
		t.Fatalf("%d list calls with 1,000 per page, want 3", n)
	}
}

// TestLargeSubtreeFallsBack: a subtree beyond the page budget is listed
// directory by directory with the delimiter.
func TestLargeSubtreeFallsBack(t *testing.T) {
	f := &fakeLister{}
	for i := 0; i < 30; i++ {
		f.add(fmt.Sprintf("d%02d/f", i), "x", t0, false)
	}
	f.add("top.txt", "t", t0, false)
	v, _ := newView(t, f, Options{PageSize: 10, TreePages: 2})
	ctx := context.Background()
	es, err := v.At(ctx, "b", "", "", t0)
	if err != nil || len(es) != 31 || !es[0].Dir || es[30].Name != "top.txt" {
		t.Fatalf("root: %q %v", names(es), err)
	}
	if n := f.count(); n != 2+4 { // 2 pages of the budget, then 31 entries in pages of 10
		t.Fatalf("%d list calls, want 6", n)
	}
	es, err = v.At(ctx, "b", "", "d05/", t0)
	if err != nil || names(es) != "f=x" {
		t.Fatalf("d05: %q %v", names(es), err)
	}
	// A name below which the delimiter listing shows nothing needs no call.
	before := f.count()
	if es, err := v.At(ctx, "b", "", "top.txt/", t0); err != nil || len(es) != 0 {
		t.Fatalf("below a file: %v %v", es, err)
	}
	if f.count() != before {
		t.Fatal("listing below a file went to B2")
	}
}

func TestListingExpiresWithDirTTL(t *testing.T) {
	f := &fakeLister{}
	f.add("f", "1", t0, false)
	v, now := newView(t, f, Options{})
	ctx := context.Background()
	if _, err := v.At(ctx, "b", "", "", *now); err != nil {
		t.Fatal(err)
	}
	f.add("f", "2", now.Add(time.Second), false)
	*now = now.Add(30 * time.Second)
	es, _ := v.At(ctx, "b", "", "", *now)
	if names(es) != "f=1" || f.count() != 1 {
		t.Fatalf("within the TTL: %q, %d calls", names(es), f.count())
	}
	*now = now.Add(time.Minute)
	es, _ = v.At(ctx, "b", "", "", *now)
	if names(es) != "f=2" || f.count() != 2 {
		t.Fatalf("after the TTL: %q, %d calls", names(es), f.count())
	}
}

func TestListErrorPassesThrough(t *testing.T) {
	denied := errors.New("permission denied")
	f := &fakeLister{err: denied}
	v, _ := newView(t, f, Options{})
	if _, err := v.At(context.Background(), "b", "", "", t0); !errors.Is(err, denied) {
		t.Fatalf("err %v", err)
	}
	if _, err := v.History(context.Background(), "b", "", "x"); !errors.Is(err, denied) {
		t.Fatalf("err %v", err)
	}
}

func TestParseTime(t *testing.T) {
	ok := map[string]time.Time{
		"2026-12-01":                     time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC),
		"2026-12-01T10:00":               time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC),
		"2026-12-01T10:00:07":            time.Date(2026, 12, 1, 10, 0, 7, 0, time.UTC),
		"2026-12-01T10:00:07.25":         time.Date(2026, 12, 1, 10, 0, 7, 25e7, time.UTC),
		"2026-12-01T10:00:00Z":           time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC),
		"2026-12-01T10:00Z":              time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC),
		"2026-12-01T11:00:00+01:00":      time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC),
		"2026-12-01T10:00:00.123Z":       time.Date(2026, 12, 1, 10, 0, 0, 123e6, time.UTC),
		"2026-12-01T05:30:00.5-04:30":    time.Date(2026, 12, 1, 10, 0, 0, 5e8, time.UTC),
		"2026-12-01T10:00:00.000000001Z": time.Date(2026, 12, 1, 10, 0, 0, 1, time.UTC),
	}
	for s, want := range ok {
		got, err := ParseTime(s)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	for _, s := range []string{"", "now", "2026", "2026-12", "2026-13-01", "2026-12-32", "2026-12-1",
		"2026/12/01", "2026-12-01 10:00", "2026-12-01T25:00", "2026-12-01T10", "2026-12-01T10:00:00Zjunk",
		"2026-12-01T10:00:00.000Z.deleted", "12/01/2026", "2026-12-01T10:00:00+1"} {
		if got, err := ParseTime(s); err == nil || !errors.Is(err, ErrBadTime) {
			t.Errorf("ParseTime(%q) = %v, %v; want an error", s, got, err)
		}
	}
}

// TestEncodedNames: B2 segments are shown decoded (package nameenc), and
// segments that do not round-trip are left out.
func TestEncodedNames(t *testing.T) {
	f := &fakeLister{}
	odd := "back\\slash\x01"
	f.add("d/"+nameenc.Encode("sub dir\\")+"/"+nameenc.Encode(odd), "x", t0, false)
	f.add("d/"+nameenc.Encode(odd), "y", t0, false)
	f.add("d/lone\u201b", "z", t0, false) // a quote before nothing: no name decodes to it
	v, _ := newView(t, f, Options{})
	ctx := context.Background()
	es, err := v.At(ctx, "b", "", "d/", t0)
	if err != nil || names(es) != odd+"=y sub dir\\/" {
		t.Fatalf("d/: %q %v", names(es), err)
	}
	es, err = v.At(ctx, "b", "", "d/"+nameenc.Encode("sub dir\\")+"/", t0)
	if err != nil || names(es) != odd+"=x" {
		t.Fatalf("d/sub dir\\/: %q %v", names(es), err)
	}
	ch, err := v.HistoryChildren(ctx, "b", "", "d/")
	if err != nil || strings.Join(ch, "|") != odd+"|sub dir\\" {
		t.Fatalf("history children %q %v", ch, err)
	}
}

// blockingLister waits for release before answering.
type blockingLister struct {
	*fakeLister
	release chan struct{}
}

func (b blockingLister) ListVersions(ctx context.Context, bucketID, prefix, delim, startName, startID string, max int) (Page, error) {
	select {
	case <-b.release:
	case <-ctx.Done():
		return Page{}, ctx.Err()
	}
	return b.fakeLister.ListVersions(ctx, bucketID, prefix, delim, startName, startID, max)
}

// TestSharedListingSurvivesInterruptedCaller: a caller that gives up
// returns at once and does not fail another caller of the same listing.
func TestSharedListingSurvivesInterruptedCaller(t *testing.T) {
	f := &fakeLister{}
	f.add("f", "1", t0, false)
	bl := blockingLister{fakeLister: f, release: make(chan struct{})}
	c, err := cache.New(cache.Options{DirTTL: time.Minute, AttrTTL: time.Minute, NegativeTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	v, err := New(Options{Lister: bl, Cache: c})
	if err != nil {
		t.Fatal(err)
	}
	ctx1, cancel := context.WithCancel(context.Background())
	done1 := make(chan error, 1)
	go func() { _, err := v.At(ctx1, "b", "", "", t0); done1 <- err }()
	done2 := make(chan string, 1)
	go func() {
		es, err := v.At(context.Background(), "b", "", "", t0)
		done2 <- fmt.Sprint(names(es), err)
	}()
	time.Sleep(20 * time.Millisecond)
	cancel()
	if err := <-done1; !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted caller: %v", err)
	}
	close(bl.release)
	if got := <-done2; got != "f=1<nil>" {
		t.Fatalf("other caller: %s", got)
	}
}
