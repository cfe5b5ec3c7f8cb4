package b2emu

import (
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
)

// SeedSample fills bucketName (created as allPrivate when missing) with a
// small sample tree: text files, nested folders, names with spaces and
// non-ASCII characters (one above U+FFFF), an empty file and a 6 MiB
// pseudo-random file. Existing names get a new version.
func (s *Server) SeedSample(bucketName string) error {
	if _, ok := s.BucketID(bucketName); !ok {
		if _, err := s.CreateBucket(bucketName, "allPrivate"); err != nil {
			return fmt.Errorf("b2emu: seed sample: %w", err)
		}
	}
	mtime := map[string]string{"src_last_modified_millis": "1700000000000"}
	files := []struct{ name, body string }{
		{"README.txt", "This is the b2emu sample bucket.\nEvery file here lives in a local emulator of Backblaze B2.\n"},
		{"docs/guide.md", "# Guide\n\nMount the bucket and use ordinary tools.\n"},
		{"docs/notes with spaces.txt", "file names may contain spaces\n"},
		{"docs/a+b=c.txt", "plus and equals signs survive percent-encoding\n"},
		{"photos/cats/fluffy.jpg", strings.Repeat("\xff\xd8fluffy", 512)},
		{"photos/cats/mittens.jpg", strings.Repeat("\xff\xd8mittens", 512)},
		{"photos/été/café ☕.txt", "unicode names work\n"},
		{"music/🎵 song.txt", "a code point above U+FFFF\n"},
		{"empty.txt", ""},
		{"folder/.bzEmpty", ""},
	}
	for _, f := range files {
		if _, err := s.PutFile(bucketName, f.name, []byte(f.body), mtime); err != nil {
			return err
		}
	}
	const big = 6 << 20
	rnd := rand.New(rand.NewPCG(1, 2))
	r := io.LimitReader(readerFunc(func(p []byte) (int, error) {
		for i := range p {
			p[i] = byte(rnd.Uint32())
		}
		return len(p), nil
	}), big)
	if _, err := s.putFile(bucketName, "big/random-6MiB.bin", r, big, mtime); err != nil {
		return err
	}
	return nil
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }
