package python

// CompileCommand returns the command a pip-compile or `uv pip compile` output file records in
// its header (e.g. "pip-compile --output-file=requirements.txt requirements.in"), or "" when
// the file was not written by either.
func CompileCommand(data []byte) string { return compiledHeader(data) }

// SplitCommand splits a recorded command line into words as a POSIX shell would, refusing
// shell syntax (pipes, substitutions) rather than guessing.
func SplitCommand(s string) ([]string, error) { return splitWords(s) }
