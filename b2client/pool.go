package b2client

import "sync"

// uploadPools holds idle upload URLs: key "b:<bucketId>" for b2_upload_file
// URLs and "f:<largeFileId>" for part URLs. A URL taken from a pool belongs
// to one upload until it is put back (after a success) or dropped (after any
// failure), so a URL never serves two uploads at once.
type uploadPools struct {
	max int
	// mu guards idle. Never held across a network call.
	mu   sync.Mutex
	idle map[string][]*UploadURL
}

func (p *uploadPools) init(n int) {
	p.max = n
	p.idle = make(map[string][]*UploadURL)
}

// get takes an idle URL for key, or returns nil.
func (p *uploadPools) get(key string) *UploadURL {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.idle[key]
	if len(l) == 0 {
		return nil
	}
	u := l[len(l)-1]
	l[len(l)-1] = nil
	if len(l) == 1 {
		delete(p.idle, key)
	} else {
		p.idle[key] = l[:len(l)-1]
	}
	return u
}

// put returns a URL that just served a successful upload.
func (p *uploadPools) put(key string, u *UploadURL) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.idle[key]) < p.max {
		p.idle[key] = append(p.idle[key], u)
	}
}

// drop forgets every idle URL for key (a finished or cancelled large file).
func (p *uploadPools) drop(key string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.idle, key)
}

// size returns the number of idle URLs for key (tests).
func (p *uploadPools) size(key string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle[key])
}
