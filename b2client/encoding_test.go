package b2client

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestPercentEncode(t *testing.T) {
	tests := []struct{ in, want string }{
		// Reference §7.4 table.
		{"kitten pics/cat 1.jpg", "kitten%20pics/cat%201.jpg"},
		{"a+b=c.txt", "a%2Bb%3Dc.txt"},
		{"自由.txt", "%E8%87%AA%E7%94%B1.txt"},
		{"50%/x,y", "50%25/x%2Cy"},
		// Safe characters stay literal.
		{"AZaz09-._~/", "AZaz09-._~/"},
		{"", ""},
		{"+", "%2B"},
		{" ", "%20"},
		{"#", "%23"},
		{"?", "%3F"},
		{"%", "%25"},
		{"&=;:@!$'()*", "%26%3D%3B%3A%40%21%24%27%28%29%2A"},
		{"\"<>[\\]^`{|}", "%22%3C%3E%5B%5C%5D%5E%60%7B%7C%7D"},
		{"\x7f\x01", "%7F%01"},
		{"é", "%C3%A9"},
		{"😀", "%F0%9F%98%80"},
	}
	for _, tt := range tests {
		if got := PercentEncode(tt.in); got != tt.want {
			t.Errorf("PercentEncode(%q) = %q, want %q", tt.in, got, tt.want)
		}
		back, err := PercentDecode(tt.want)
		if err != nil || back != tt.in {
			t.Errorf("PercentDecode(%q) = %q, %v; want %q", tt.want, back, err, tt.in)
		}
	}
}

func TestPercentDecode(t *testing.T) {
	tests := []struct {
		in, want string
		bad      bool
	}{
		{in: "a+b", want: "a b"},
		{in: "a%2bb", want: "a+b"},
		{in: "a%2Bb", want: "a+b"},
		{in: "kitten+pics/cat+1.jpg", want: "kitten pics/cat 1.jpg"},
		{in: "a%2Bb=c.txt", want: "a+b=c.txt"}, // minimal form
		{in: "%e8%87%aa%e7%94%b1.txt", want: "自由.txt"},
		{in: "plain", want: "plain"},
		{in: "%", bad: true},
		{in: "%2", bad: true},
		{in: "%zz", bad: true},
		{in: "%FF", bad: true},  // not UTF-8
		{in: "\xff", bad: true}, // not UTF-8
	}
	for _, tt := range tests {
		got, err := PercentDecode(tt.in)
		if tt.bad {
			if !errors.Is(err, ErrInvalidArgument) {
				t.Errorf("PercentDecode(%q) = %q, %v; want ErrInvalidArgument", tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("PercentDecode(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func FuzzPercentRoundTrip(f *testing.F) {
	for _, s := range []string{"kitten pics/cat 1.jpg", "a+b=c.txt", "自由.txt", "50%/x,y", "", "#?&", "\x00\x7f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		enc := PercentEncode(s)
		for i := 0; i < len(enc); i++ {
			c := enc[i]
			if c != '%' && !isSafeByte(c) {
				t.Fatalf("PercentEncode(%q) = %q emits unsafe byte %q", s, enc, c)
			}
		}
		dec, err := PercentDecode(enc)
		switch {
		case utf8.ValidString(s) && (err != nil || dec != s):
			t.Fatalf("round trip %q -> %q -> %q, %v", s, enc, dec, err)
		case !utf8.ValidString(s) && err == nil:
			t.Fatalf("PercentDecode(%q) accepted invalid UTF-8 %q", enc, dec)
		}
		// Decoding arbitrary input never panics.
		_, _ = PercentDecode(s)
	})
}

func TestValidateFileName(t *testing.T) {
	good := []string{"a", "dir/file.txt", "with space", "自由.txt", strings.Repeat("a", 250) + "/b", strings.Repeat("a/", 400) + "b"}
	bad := []string{"", "/lead", "trail/", "a//b", "back\\slash", "ctl\x01", "del\x7f", strings.Repeat("a", 251), strings.Repeat("a/", 512) + "b", "\xff"}
	for _, n := range good {
		if err := ValidateFileName(n); err != nil {
			t.Errorf("ValidateFileName(%.40q) = %v, want nil", n, err)
		}
	}
	for _, n := range bad {
		if err := ValidateFileName(n); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("ValidateFileName(%.40q) = %v, want ErrInvalidArgument", n, err)
		}
	}
}

func TestBuildInfo(t *testing.T) {
	mod := time.UnixMilli(1705313690123)
	info, err := buildInfo("x", map[string]string{"Author": "Zoë", "b2-cache-control": "max-age=1"}, mod, nil)
	if err != nil {
		t.Fatal(err)
	}
	if info["author"] != "Zoë" || info[InfoModTime] != "1705313690123" || info["b2-cache-control"] != "max-age=1" || len(info) != 3 {
		t.Fatalf("info = %v", info)
	}
	many := map[string]string{}
	for i := 0; i < 10; i++ {
		many[string(rune('a'+i))] = "v"
	}
	tests := []struct {
		name string
		info map[string]string
		mod  time.Time
	}{
		{"bad char", map[string]string{"a b": "v"}, time.Time{}},
		{"slash", map[string]string{"a/b": "v"}, time.Time{}},
		{"too long key", map[string]string{strings.Repeat("k", 51): "v"}, time.Time{}},
		{"reserved", map[string]string{"b2-whatever": "v"}, time.Time{}},
		{"duplicate case", map[string]string{"Key": "1", "key": "2"}, time.Time{}},
		{"eleven entries", many, mod},
		{"budget", map[string]string{"big": strings.Repeat("é", 3500)}, time.Time{}},
		{"bad utf8 value", map[string]string{"k": "\xff"}, time.Time{}},
	}
	for _, tt := range tests {
		if _, err := buildInfo("name", tt.info, tt.mod, nil); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%s: err = %v, want ErrInvalidArgument", tt.name, err)
		}
	}
	if _, err := buildInfo("name", many, time.Time{}, nil); err != nil {
		t.Errorf("ten entries: %v", err)
	}
}

func TestParseContentRange(t *testing.T) {
	tests := []struct {
		in   string
		want byteRange
		ok   bool
	}{
		{"bytes 5-8/10", byteRange{5, 8, 10}, true},
		{"bytes 0-0/1", byteRange{0, 0, 1}, true},
		{"bytes 5-8/8", byteRange{}, false},
		{"bytes 8-5/10", byteRange{}, false},
		{"bytes */10", byteRange{}, false},
		{"items 0-1/2", byteRange{}, false},
		{"", byteRange{}, false},
	}
	for _, tt := range tests {
		got, ok := parseContentRange(tt.in)
		if ok != tt.ok || (ok && got != tt.want) {
			t.Errorf("parseContentRange(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestErrorHelpers(t *testing.T) {
	e := func(status int, code string) error {
		return &Error{Status: status, Code: code, API: "x"}
	}
	wrap := func(err error) error { return errors.Join(errors.New("ctx"), err) }
	tests := []struct {
		name string
		err  error
		fn   func(error) bool
		want bool
	}{
		{"404", wrap(e(404, "not_found")), IsNotFound, true},
		{"file_not_present", e(400, "file_not_present"), IsNotFound, true},
		{"no_such_file", e(400, "no_such_file"), IsNotFound, true},
		{"bad_bucket_id", e(400, "bad_bucket_id"), IsNotFound, true},
		{"legacy message", &Error{Status: 400, Code: "bad_request", Message: "Invalid fileId: x"}, IsNotFound, true},
		{"bad_request", e(400, "bad_request"), IsNotFound, false},
		{"unauthorized", e(401, "unauthorized"), IsUnauthorized, true},
		{"access_denied", e(403, "access_denied"), IsUnauthorized, true},
		{"expired token", e(401, "expired_auth_token"), IsUnauthorized, false},
		{"credentials", ErrCredentialsRejected, IsUnauthorized, true},
		{"storage cap", e(403, "storage_cap_exceeded"), IsCapExceeded, true},
		{"transaction cap", e(403, "transaction_cap_exceeded"), IsCapExceeded, true},
		{"storage cap 2", e(403, "storage_cap_exceeded"), IsStorageCapExceeded, true},
		{"download cap", e(403, "download_cap_exceeded"), IsStorageCapExceeded, false},
		{"416", e(416, "range_not_satisfiable"), IsRangeNotSatisfiable, true},
		{"hidden", e(400, "already_hidden"), IsAlreadyHidden, true},
		{"503", e(503, "service_unavailable"), IsRetryable, true},
		{"429", e(429, "too_many_requests"), IsRetryable, true},
		{"408", e(408, "request_timeout"), IsRetryable, true},
		{"400", e(400, "bad_request"), IsRetryable, false},
		{"transport", &transportError{errors.New("reset")}, IsRetryable, true},
		{"plain", errors.New("x"), IsRetryable, false},
		{"nil", nil, IsNotFound, false},
	}
	for _, tt := range tests {
		if got := tt.fn(tt.err); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestFileModTime(t *testing.T) {
	f := File{UploadTimestamp: 2000, Info: map[string]string{InfoModTime: "1000"}}
	if got := f.ModTime(); !got.Equal(time.UnixMilli(1000)) {
		t.Errorf("ModTime = %v", got)
	}
	f.Info[InfoModTime] = "garbage"
	if got := f.ModTime(); !got.Equal(time.UnixMilli(2000)) {
		t.Errorf("ModTime with bad info = %v", got)
	}
	f.Info = nil
	if got := f.ModTime(); !got.Equal(time.UnixMilli(2000)) {
		t.Errorf("ModTime without info = %v", got)
	}
}
