package engine

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// runnerFiles are the files behind GITHUB_OUTPUT, GITHUB_ENV, GITHUB_PATH,
// GITHUB_STEP_SUMMARY and GITHUB_STATE. A job makes one set and empties
// what a step wrote once it is applied, so every step starts with empty
// files without creating and removing five files per step.
type runnerFiles struct {
	dir                               string
	output, env, path, summary, state string
}

// maxRunnerFile bounds what sluice reads from one runner file after a step:
// a step cannot make the engine hold more than this in memory.
const maxRunnerFile = 64 << 20

func newRunnerFiles(dir string) (*runnerFiles, error) {
	id := randomName()
	f := &runnerFiles{
		dir:     dir,
		output:  filepath.Join(dir, "set_output_"+id),
		env:     filepath.Join(dir, "set_env_"+id),
		path:    filepath.Join(dir, "add_path_"+id),
		summary: filepath.Join(dir, "step_summary_"+id),
		state:   filepath.Join(dir, "save_state_"+id),
	}
	for _, p := range f.all() {
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			return nil, fmt.Errorf("creating runner file: %w", err)
		}
	}
	return f, nil
}

func (f *runnerFiles) all() []string {
	return []string{f.output, f.env, f.path, f.summary, f.state}
}

// applyFiles reads what the step wrote and applies it to the job: outputs
// into outs, env and path for later steps, the summary for the run's end.
// It returns the state the step saved (GITHUB_STATE).
func (jr *jobRun) applyFiles(f *runnerFiles, outs map[string]string) (map[string]string, error) {
	// The files are the job's: they are read through the directory that
	// holds them, so a step that replaced one with a symlink cannot make
	// sluice read (or empty) a file outside it.
	dir, err := os.OpenRoot(f.dir)
	if err != nil {
		return nil, fmt.Errorf("opening the runner files: %w", err)
	}
	defer dir.Close()
	// Most steps write none of the files: a stat is all they cost.
	read := func(p string) ([]byte, error) {
		name := filepath.Base(p)
		fi, err := dir.Lstat(name)
		if err != nil || fi.Size() == 0 && fi.Mode().IsRegular() {
			return nil, nil
		}
		if !fi.Mode().IsRegular() {
			_ = dir.Remove(name)
			_ = dir.WriteFile(name, nil, 0o644)
			return nil, fmt.Errorf("%s was replaced by something other than a file; a step may only write to it", name)
		}
		if fi.Size() > maxRunnerFile {
			_ = dir.WriteFile(name, nil, 0o644)
			return nil, fmt.Errorf("%s holds %d bytes, more than the %d a step may write there", name, fi.Size(), maxRunnerFile)
		}
		fh, err := dir.OpenFile(name, os.O_RDWR, 0)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", name, err)
		}
		defer fh.Close()
		b, err := io.ReadAll(io.LimitReader(fh, maxRunnerFile+1))
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", name, err)
		}
		if len(b) > maxRunnerFile {
			_ = fh.Truncate(0)
			return nil, fmt.Errorf("%s holds more than the %d bytes a step may write there", name, maxRunnerFile)
		}
		if err := fh.Truncate(0); err != nil {
			return nil, fmt.Errorf("emptying %s: %w", name, err)
		}
		return b, nil
	}
	b, err := read(f.output)
	if err != nil {
		return nil, err
	}
	kv, err := parseKeyValues(b)
	if err != nil {
		return nil, fmt.Errorf("GITHUB_OUTPUT: %w", err)
	}
	for _, p := range kv {
		outs[p[0]] = p[1]
	}
	if b, err = read(f.env); err != nil {
		return nil, err
	}
	if kv, err = parseKeyValues(b); err != nil {
		return nil, fmt.Errorf("GITHUB_ENV: %w", err)
	}
	jr.mu.Lock()
	defer jr.mu.Unlock()
	for _, p := range kv {
		jr.fileEnv[p[0]] = p[1]
	}
	if b, err = read(f.path); err != nil {
		return nil, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			jr.path = append([]string{l}, jr.path...)
		}
	}
	if b, err = read(f.summary); err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(b)) > 0 {
		jr.summary.WriteString(jr.wr.e.opts.Masker.Mask(string(b)))
		if !bytes.HasSuffix(b, []byte("\n")) {
			jr.summary.WriteByte('\n')
		}
	}
	if b, err = read(f.state); err != nil {
		return nil, err
	}
	kv, err = parseKeyValues(b)
	if err != nil {
		return nil, fmt.Errorf("GITHUB_STATE: %w", err)
	}
	state := map[string]string{}
	for _, p := range kv {
		state[p[0]] = p[1]
	}
	return state, nil
}

// parseKeyValues reads the environment-file format: NAME=value lines and
// NAME<<DELIMITER blocks ending at a line equal to the delimiter.
func parseKeyValues(b []byte) ([][2]string, error) {
	var out [][2]string
	if len(b) == 0 {
		return nil, nil // most steps write nothing to most files
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	// The scanner grows its buffer to the longest line; starting small keeps a step that
	// writes a line or two from allocating (and the collector from running) per file.
	sc.Buffer(nil, 64*1024*1024)
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := strings.TrimSuffix(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		eq := strings.Index(line, "=")
		hd := strings.Index(line, "<<")
		if hd >= 0 && (eq < 0 || hd < eq) {
			name, delim := line[:hd], line[hd+2:]
			if name == "" || delim == "" {
				return nil, fmt.Errorf("line %d: %q needs a name and a delimiter (NAME<<EOF)", lineNo, line)
			}
			var val []string
			closed := false
			for sc.Scan() {
				lineNo++
				l := strings.TrimSuffix(sc.Text(), "\r")
				if l == delim {
					closed = true
					break
				}
				val = append(val, l)
			}
			if !closed {
				return nil, fmt.Errorf("line %d: the value of %s has no closing delimiter %q", lineNo, name, delim)
			}
			out = append(out, [2]string{name, strings.Join(val, "\n")})
			continue
		}
		if eq <= 0 {
			return nil, fmt.Errorf("line %d: %q is not NAME=value or NAME<<DELIMITER", lineNo, line)
		}
		out = append(out, [2]string{line[:eq], line[eq+1:]})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}
