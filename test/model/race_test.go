//go:build race

package model

// raceEnabled: the race detector slows the in-process targets about ten
// times; their default number of checks is scaled down (see vfsChecks).
const raceEnabled = true
