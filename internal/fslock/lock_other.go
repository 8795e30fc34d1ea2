//go:build !unix

package fslock

// Lock is a no-op where flock does not exist: sluice runs jobs on Linux and
// macOS, and a single process there still serialises through its callers'
// atomic renames.
func Lock(string) (func(), error) { return func() {}, nil }

// TryLock always succeeds where flock does not exist.
func TryLock(string) (func(), bool, error) { return func() {}, true, nil }
