// Package startgc keeps the garbage collector from running while the binary's
// packages initialise. The one sluice binary links the server's libraries
// (markdown, HTML sanitising, workflow lint, the container and S3 clients),
// whose initialisers allocate ~3.5 MB: enough to start a collection before
// main on every `sluice run` and every sandbox helper, for memory that is all
// still in use. main imports this package and calls Done first thing.
package startgc

import "runtime/debug"

// before is the collector's setting the process started with (GOGC's, else 100).
var before = debug.SetGCPercent(-1)

// Done lets the collector run again as the process was started to.
func Done() { debug.SetGCPercent(before) }
