package testenv

// Pattern returns n deterministic pseudo-random bytes (xorshift from seed):
// test data that compresses badly and differs between seeds.
func Pattern(seed uint64, n int) []byte {
	b := make([]byte, n)
	x := seed*2654435761 + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x)
	}
	return b
}
