package expr

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
)

// HashFiles computes GitHub's hashFiles(): the files under root matched by the patterns (the
// runner's @actions/glob rules), each hashed with SHA-256, and the SHA-256 of those digests
// concatenated, in hex. No match gives "".
//
// Pattern rules, as the runner applies them: each argument may hold several newline-separated
// patterns; blank lines and lines starting with '#' are ignored; a leading '!' excludes; later
// patterns override earlier ones; relative patterns are rooted at root; `*` and `**` match dot
// files; a pattern matching a directory matches everything below it. Files are visited depth
// first with each directory's entries in byte order. Files outside root are never hashed, nor
// are files reached through a symbolic link that leads out of root (the runner would hash
// those; on a shared machine the hash of a file outside the job's workspace is not the job's to
// learn). A first argument of `--follow-symbolic-links` makes directory symlinks traversable.
func HashFiles(root string, patterns ...string) (string, error) {
	if root == "" {
		return "", fmt.Errorf("hashing files: no root directory")
	}
	absRoot, err := filepath.Abs(root)
	if err != nil {
		return "", fmt.Errorf("hashing files under %s: %w", root, err)
	}
	follow := false
	if len(patterns) > 0 && strings.HasPrefix(patterns[0], "--") {
		if !strings.EqualFold(patterns[0], "--follow-symbolic-links") {
			return "", fmt.Errorf("invalid glob option %s, available option: '--follow-symbolic-links'", patterns[0])
		}
		follow = true
		patterns = patterns[1:]
	}
	g := newGlob(filepath.ToSlash(absRoot), patterns)
	files, err := g.files(absRoot, follow)
	if err != nil {
		return "", err
	}
	if len(files) == 0 {
		return "", nil
	}
	total := sha256.New()
	for _, f := range files {
		sum, err := hashFile(f)
		if err != nil {
			return "", err
		}
		total.Write(sum)
	}
	return hex.EncodeToString(total.Sum(nil)), nil
}

func hashFile(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("hashing %s: %w", p, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, fmt.Errorf("hashing %s: %w", p, err)
	}
	return h.Sum(nil), nil
}

type matchKind int

const (
	matchDir matchKind = 1 << iota
	matchFile
	matchAll = matchDir | matchFile
)

// globPattern is one pattern, as segments relative to the root.
type globPattern struct {
	negate  bool
	dirOnly bool // written with a trailing '/'
	segs    []string
	res     []*regexp.Regexp // per segment; nil for a literal segment or `**`
}

func newPattern(negate, dirOnly bool, segs []string) globPattern {
	p := globPattern{negate: negate, dirOnly: dirOnly, segs: segs, res: make([]*regexp.Regexp, len(segs))}
	for i, sg := range segs {
		if sg != "**" && (hasGlobChars(sg) || strings.Contains(sg, `\`)) {
			p.res[i], _ = regexp.Compile(segmentRegexp(sg)) // nil on error: compared literally
		}
	}
	return p
}

type glob struct {
	patterns []globPattern
	searches [][]string // literal prefixes to start walking from, relative to root
}

func newGlob(root string, args []string) *glob {
	g := &glob{}
	for _, arg := range args {
		for _, line := range strings.Split(arg, "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			negate := false
			for strings.HasPrefix(line, "!") {
				negate = !negate
				line = line[1:]
			}
			if strings.HasPrefix(line, "~") {
				if home, err := os.UserHomeDir(); err == nil {
					line = home + line[1:]
				}
			}
			line = filepath.ToSlash(line)
			dirOnly := strings.HasSuffix(line, "/")
			if !path.IsAbs(line) {
				line = root + "/" + line
			}
			line = path.Clean(line)
			var rel string
			switch {
			case line == root:
				rel = ""
			case strings.HasPrefix(line, root+"/"):
				rel = line[len(root)+1:]
			default:
				continue // outside root: it can neither add nor remove a file we may hash
			}
			var segs []string
			if rel != "" {
				segs = strings.Split(rel, "/")
			}
			g.patterns = append(g.patterns, newPattern(negate, dirOnly, segs))
			// A match on a directory also matches everything below it.
			if dirOnly || len(segs) == 0 || segs[len(segs)-1] != "**" {
				g.patterns = append(g.patterns, newPattern(negate, false, append(append([]string(nil), segs...), "**")))
			}
		}
	}
	g.searches = searchRoots(g.patterns)
	return g
}

func hasGlobChars(s string) bool { return strings.ContainsAny(s, "*?[") }

// searchRoots returns each include pattern's literal prefix, dropping any below another one.
func searchRoots(patterns []globPattern) [][]string {
	var roots []string
	seen := map[string]bool{}
	for _, p := range patterns {
		if p.negate {
			continue
		}
		n := 0
		for n < len(p.segs) && !hasGlobChars(p.segs[n]) {
			n++
		}
		key := strings.Join(p.segs[:n], "/")
		if !seen[key] {
			seen[key] = true
			roots = append(roots, key)
		}
	}
	var out [][]string
	for _, r := range roots {
		covered := false
		for _, other := range roots {
			if other != r && (other == "" || strings.HasPrefix(r, other+"/")) {
				covered = true
				break
			}
		}
		if covered {
			continue
		}
		if r == "" {
			out = append(out, nil)
		} else {
			out = append(out, strings.Split(r, "/"))
		}
	}
	return out
}

func (g *glob) match(segs []string) matchKind {
	var m matchKind
	for _, p := range g.patterns {
		if !matchSegs(p.segs, p.res, segs, false) {
			continue
		}
		k := matchAll
		if p.dirOnly {
			k = matchDir
		}
		if p.negate {
			m &^= k
		} else {
			m |= k
		}
	}
	return m
}

func (g *glob) partial(segs []string) bool {
	for _, p := range g.patterns {
		if !p.negate && matchSegs(p.segs, p.res, segs, true) {
			return true
		}
	}
	return false
}

// matchSegs matches path segments against pattern segments; `**` spans any number of segments.
// With prefix set it reports whether some path below segs could still match.
func matchSegs(pat []string, res []*regexp.Regexp, segs []string, prefix bool) bool {
	if len(pat) == 0 {
		return len(segs) == 0
	}
	if len(segs) == 0 {
		return prefix || (len(pat) == 1 && pat[0] == "**")
	}
	if pat[0] == "**" {
		if prefix {
			return true
		}
		return matchSegs(pat[1:], res[1:], segs, false) || matchSegs(pat, res, segs[1:], false)
	}
	if res[0] != nil {
		if !res[0].MatchString(segs[0]) {
			return false
		}
	} else if pat[0] != segs[0] {
		return false
	}
	return matchSegs(pat[1:], res[1:], segs[1:], prefix)
}

// segmentRegexp translates one minimatch path segment (`*`, `?`, `[...]` with `!` or `^`
// negation, `\` escapes) into an anchored regular expression. An unclosed `[` is literal, as in
// minimatch.
func segmentRegexp(pat string) string {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(pat); i++ {
		c := pat[i]
		switch c {
		case '*':
			b.WriteString("[^/]*")
		case '?':
			b.WriteString("[^/]")
		case '\\':
			if i+1 < len(pat) {
				i++
				b.WriteString(regexp.QuoteMeta(pat[i : i+1]))
			} else {
				b.WriteString(`\\`)
			}
		case '[':
			class, n, ok := classRegexp(pat[i:])
			if !ok {
				b.WriteString(`\[`)
				continue
			}
			b.WriteString(class)
			i += n - 1
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return b.String()
}

// classRegexp translates the bracket expression at the start of s, returning it and its length.
func classRegexp(s string) (string, int, bool) {
	i := 1
	var b strings.Builder
	b.WriteByte('[')
	if i < len(s) && (s[i] == '!' || s[i] == '^') {
		b.WriteByte('^')
		i++
	}
	start := i
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ']' && i > start:
			b.WriteByte(']')
			return b.String(), i + 1, true
		case c == '-' && i > start && i+1 < len(s) && s[i+1] != ']':
			b.WriteByte('-')
		case c == '\\' && i+1 < len(s):
			i++
			b.WriteString(regexp.QuoteMeta(s[i : i+1]))
		case c == '-' || c == '[' || c == ']' || c == '^' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, false
}

// files walks each search root depth first, children in byte order (what the runner's readdir
// gives), and returns the matched non-directory paths.
func (g *glob) files(root string, follow bool) ([]string, error) {
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return nil, fmt.Errorf("hashing files under %s: %w", root, err)
	}
	// inside reports whether p, its links resolved, is within root.
	inside := func(p string) (string, bool) {
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			return "", false
		}
		rel, err := filepath.Rel(realRoot, real)
		return real, err == nil && filepath.IsLocal(rel)
	}
	var out []string
	var walk func(segs []string, chain map[string]bool) error
	walk = func(segs []string, chain map[string]bool) error {
		m := g.match(segs)
		part := g.partial(segs)
		if m == 0 && !part {
			return nil
		}
		p := filepath.Join(append([]string{root}, segs...)...)
		stat := os.Lstat
		if follow {
			stat = os.Stat
		}
		info, err := stat(p)
		if err != nil {
			return nil // vanished or dangling: the runner skips it too
		}
		if !info.IsDir() {
			if m&matchFile != 0 && len(segs) > 0 {
				// Only regular files (or links to them) are hashed; links to directories are skipped.
				if fi, err := os.Stat(p); err != nil {
					return fmt.Errorf("hashing %s: %w", p, err)
				} else if _, ok := inside(p); !fi.IsDir() && ok {
					out = append(out, p)
				}
			}
			return nil
		}
		real, ok := inside(p)
		if !ok {
			return nil // a link out of root, here or above
		}
		if follow {
			if chain[real] {
				return nil // a symlink cycle
			}
			chain[real] = true
			defer delete(chain, real)
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			return fmt.Errorf("reading %s: %w", p, err)
		}
		for _, ent := range entries {
			if err := walk(append(segs[:len(segs):len(segs)], ent.Name()), chain); err != nil {
				return err
			}
		}
		return nil
	}
	for _, s := range g.searches {
		if err := walk(s, map[string]bool{}); err != nil {
			return nil, err
		}
	}
	return out, nil
}
