// Package fslock serialises processes through an exclusive lock on a file.
package fslock
