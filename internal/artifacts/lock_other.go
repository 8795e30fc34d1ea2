//go:build !unix

package artifacts

// lockFile is a no-op where flock does not exist: sluice runs jobs on
// Linux and macOS, and a single process there still serialises through
// the index's atomic rename.
func lockFile(string) (func(), error) { return func() {}, nil }
