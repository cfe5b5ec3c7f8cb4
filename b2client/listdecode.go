package b2client

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"
)

// A listing page of 10,000 names is a few megabytes of JSON, and a
// directory listing decodes many of them. The reflective decoder of
// encoding/json validates the whole body, then allocates a string for
// every field of every file (account and bucket IDs, action and content
// type, which repeat on every file) and goes through reflection for each.
// listPageDecoder reads the same JSON in one pass and allocates only the
// strings a File keeps, sharing repeated values within the page. Anything
// it does not expect (a field whose name differs from B2's only in case,
// a number that is not an integer) makes it give up, and the page is
// decoded by encoding/json instead, so the result is always what
// encoding/json gives.

// errSlowPath makes decodeListPage fall back to encoding/json.
var errSlowPath = errors.New("list page: not the expected form")

// decodeListPage decodes a b2_list_file_names or b2_list_file_versions
// answer into p (whose Files it appends to).
func decodeListPage(body []byte, p *ListPage) error {
	files := p.Files
	d := listPageDecoder{b: body}
	if d.page(p) == nil {
		return nil
	}
	var w wireListPage
	if err := json.Unmarshal(body, &w); err != nil {
		return err
	}
	p.Files = files[:0]
	for i := range w.Files {
		p.Files = append(p.Files, w.Files[i].file())
	}
	p.NextName, p.NextID = str(w.NextFileName), str(w.NextFileID)
	return nil
}

// listPageDecoder is a cursor over one answer.
type listPageDecoder struct {
	b      []byte
	i      int
	shared map[string]string // values that repeat from file to file
}

const maxShared = 256 // distinct shared values kept per page

func (d *listPageDecoder) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// expect consumes c after white space.
func (d *listPageDecoder) expect(c byte) error {
	d.ws()
	if d.i >= len(d.b) || d.b[d.i] != c {
		return errSlowPath
	}
	d.i++
	return nil
}

// peek returns the next byte after white space, or 0 at the end.
func (d *listPageDecoder) peek() byte {
	d.ws()
	if d.i >= len(d.b) {
		return 0
	}
	return d.b[d.i]
}

// null consumes a JSON null when one comes next.
func (d *listPageDecoder) null() bool {
	if d.peek() == 'n' && strings.HasPrefix(string(d.b[d.i:min(len(d.b), d.i+4)]), "null") {
		d.i += 4
		return true
	}
	return false
}

// rawString returns the bytes of the next string token, quotes excluded,
// and whether they are plain (printable ASCII without escapes, so that the
// bytes are the value).
func (d *listPageDecoder) rawString() (raw []byte, plain bool, err error) {
	if err := d.expect('"'); err != nil {
		return nil, false, err
	}
	start := d.i
	plain = true
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			raw = d.b[start:d.i]
			d.i++
			return raw, plain, nil
		case c == '\\':
			plain = false
			d.i += 2
			continue
		case c < 0x20 || c >= utf8.RuneSelf:
			plain = false
		}
		d.i++
	}
	return nil, false, errSlowPath
}

// str decodes the next string. With share, equal values within the page
// are one string.
func (d *listPageDecoder) str(share bool) (string, error) {
	start := d.i
	raw, plain, err := d.rawString()
	if err != nil {
		return "", err
	}
	if !plain {
		var s string
		if err := json.Unmarshal(d.b[start:d.i], &s); err != nil {
			return "", errSlowPath
		}
		return s, nil
	}
	if !share {
		return string(raw), nil
	}
	return d.share(raw), nil
}

// share returns raw as a string, the same one for equal values within
// the page.
func (d *listPageDecoder) share(raw []byte) string {
	if s, ok := d.shared[string(raw)]; ok {
		return s
	}
	s := string(raw)
	if d.shared == nil {
		d.shared = make(map[string]string, 16)
	}
	if len(d.shared) < maxShared {
		d.shared[s] = s
	}
	return s
}

// optStr decodes a string or null (which leaves the value unchanged, as
// encoding/json does).
func (d *listPageDecoder) optStr(dst *string, share bool) error {
	if d.null() {
		return nil
	}
	s, err := d.str(share)
	*dst = s
	return err
}

// int decodes an integer (null gives ok false).
func (d *listPageDecoder) int() (n int64, ok bool, err error) {
	if d.null() {
		return 0, false, nil
	}
	d.ws()
	start := d.i
	for d.i < len(d.b) && (d.b[d.i] == '-' || d.b[d.i] >= '0' && d.b[d.i] <= '9') {
		d.i++
	}
	tok := d.b[start:d.i]
	if digits := strings.TrimPrefix(string(tok), "-"); len(digits) > 1 && digits[0] == '0' {
		return 0, false, errSlowPath // not JSON
	}
	n, err = strconv.ParseInt(string(tok), 10, 64)
	if err != nil {
		return 0, false, errSlowPath
	}
	return n, true, nil
}

// skip consumes one value of any kind.
func (d *listPageDecoder) skip() error {
	switch c := d.peek(); c {
	case '"':
		start := d.i
		_, plain, err := d.rawString()
		if err == nil && !plain && !json.Valid(d.b[start:d.i]) {
			err = errSlowPath
		}
		return err
	case '{', '[':
		end := byte('}')
		if c == '[' {
			end = ']'
		}
		d.i++
		if d.peek() == end {
			d.i++
			return nil
		}
		for {
			if c == '{' {
				if _, _, err := d.rawString(); err != nil {
					return err
				}
				if err := d.expect(':'); err != nil {
					return err
				}
			}
			if err := d.skip(); err != nil {
				return err
			}
			switch d.peek() {
			case ',':
				d.i++
			case end:
				d.i++
				return nil
			default:
				return errSlowPath
			}
		}
	default:
		for _, lit := range [...]string{"true", "false", "null"} {
			if strings.HasPrefix(string(d.b[d.i:min(len(d.b), d.i+len(lit))]), lit) {
				d.i += len(lit)
				return nil
			}
		}
		start := d.i
		for d.i < len(d.b) && strings.IndexByte("+-.0123456789eE", d.b[d.i]) >= 0 {
			d.i++
		}
		if d.i == start || !json.Valid(d.b[start:d.i]) {
			return errSlowPath
		}
		return nil
	}
}

// object calls field for every member of the next object (or nothing for
// null); field consumes the value.
func (d *listPageDecoder) object(field func(key []byte) error) error {
	if d.null() {
		return nil
	}
	if err := d.expect('{'); err != nil {
		return err
	}
	if d.peek() == '}' {
		d.i++
		return nil
	}
	for {
		key, plain, err := d.rawString()
		if err != nil {
			return err
		}
		if !plain {
			return errSlowPath
		}
		if err := d.expect(':'); err != nil {
			return err
		}
		if err := field(key); err != nil {
			return err
		}
		switch d.peek() {
		case ',':
			d.i++
		case '}':
			d.i++
			return nil
		default:
			return errSlowPath
		}
	}
}

// unknown skips the value of a member that is not decoded, unless
// encoding/json would match its name to one that is (it ignores case).
func (d *listPageDecoder) unknown(key []byte, known ...string) error {
	for _, k := range known {
		if strings.EqualFold(string(key), k) {
			return errSlowPath
		}
	}
	return d.skip()
}

var (
	pageFields = []string{"files", "nextFileName", "nextFileId"}
	fileFields = []string{"accountId", "action", "bucketId", "contentLength", "size", "contentSha1", "contentMd5",
		"contentType", "fileId", "fileInfo", "fileName", "uploadTimestamp"}
)

func (d *listPageDecoder) page(p *ListPage) error {
	var nextName, nextID *string
	err := d.object(func(key []byte) error {
		switch string(key) {
		case "files":
			if d.null() {
				return nil
			}
			if err := d.expect('['); err != nil {
				return err
			}
			if d.peek() == ']' {
				d.i++
				return nil
			}
			for {
				var f File
				if err := d.file(&f); err != nil {
					return err
				}
				p.Files = append(p.Files, f)
				switch d.peek() {
				case ',':
					d.i++
				case ']':
					d.i++
					return nil
				default:
					return errSlowPath
				}
			}
		case "nextFileName", "nextFileId":
			var s *string
			if !d.null() {
				v, err := d.str(false)
				if err != nil {
					return err
				}
				s = &v
			}
			if key[len(key)-1] == 'e' {
				nextName = s
			} else {
				nextID = s
			}
			return nil
		}
		return d.unknown(key, pageFields...)
	})
	if err != nil {
		return err
	}
	if d.ws(); d.i != len(d.b) {
		return errSlowPath
	}
	p.NextName, p.NextID = str(nextName), str(nextID)
	return nil
}

func (d *listPageDecoder) file(f *File) error {
	var length, size int64
	var hasLength, hasSize bool
	// The file's ID, name and SHA-1, which a listing keeps as long as
	// the file, are one allocation when they need no unescaping.
	var id, name, sha1 []byte
	kept := func(dst *[]byte, s *string) error {
		if d.null() {
			return nil
		}
		start := d.i
		raw, plain, err := d.rawString()
		if err != nil || plain {
			*dst = raw
			return err
		}
		*dst = nil
		d.i = start
		return d.optStr(s, false)
	}
	err := d.object(func(key []byte) error {
		var err error
		switch string(key) {
		case "accountId":
			return d.optStr(&f.AccountID, true)
		case "action":
			return d.optStr(&f.Action, true)
		case "bucketId":
			return d.optStr(&f.BucketID, true)
		case "contentLength":
			length, hasLength, err = d.int()
			return err
		case "size":
			size, hasSize, err = d.int()
			return err
		case "contentSha1":
			return kept(&sha1, &f.SHA1)
		case "contentMd5":
			return d.optStr(&f.MD5, false)
		case "contentType":
			return d.optStr(&f.ContentType, true)
		case "fileId":
			return kept(&id, &f.ID)
		case "fileName":
			return kept(&name, &f.Name)
		case "uploadTimestamp":
			n, ok, err := d.int()
			if ok {
				f.UploadTimestamp = n
			}
			return err
		case "fileInfo":
			return d.info(f)
		}
		return d.unknown(key, fileFields...)
	})
	if err != nil {
		return err
	}
	if id != nil || name != nil || sha1 != nil {
		var b strings.Builder
		b.Grow(len(id) + len(name) + len(sha1))
		b.Write(id)
		b.Write(name)
		b.Write(sha1)
		all := b.String()
		if id != nil {
			f.ID, all = all[:len(id)], all[len(id):]
		}
		if name != nil {
			f.Name, all = all[:len(name)], all[len(name):]
		}
		if sha1 != nil {
			f.SHA1 = all
		}
	}
	switch {
	case hasLength:
		f.Size = length
	case hasSize:
		f.Size = size
	}
	return nil
}

// info decodes fileInfo into a map sized for it; its keys are shared.
func (d *listPageDecoder) info(f *File) error {
	if d.null() {
		f.Info = nil
		return nil
	}
	var kv [16]string
	pairs := kv[:0]
	err := d.object(func(key []byte) error {
		k := d.share(key)
		v, err := d.str(false)
		if err != nil {
			return err
		}
		pairs = append(pairs, k, v)
		return nil
	})
	if err != nil {
		return err
	}
	if f.Info == nil {
		f.Info = make(map[string]string, len(pairs)/2)
	}
	for i := 0; i < len(pairs); i += 2 {
		f.Info[pairs[i]] = pairs[i+1]
	}
	return nil
}
