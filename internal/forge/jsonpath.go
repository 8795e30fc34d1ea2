package forge

import (
	"math"
	"sort"
)

// The payloads are read as generic JSON so that a field of an unexpected type
// is treated as absent rather than failing the whole delivery (forges add and
// change fields across versions), and so that Payload keeps every field.

func obj(m map[string]any, path ...string) map[string]any {
	cur := m
	for _, k := range path {
		next, ok := cur[k].(map[string]any)
		if !ok {
			return nil
		}
		cur = next
	}
	return cur
}

func str(m map[string]any, path ...string) string {
	if len(path) == 0 {
		return ""
	}
	s, _ := obj(m, path[:len(path)-1]...)[path[len(path)-1]].(string)
	return s
}

func num(m map[string]any, path ...string) int {
	if len(path) == 0 {
		return 0
	}
	f, ok := obj(m, path[:len(path)-1]...)[path[len(path)-1]].(float64)
	if !ok || f != math.Trunc(f) || f < math.MinInt32 || f > math.MaxInt32 {
		return 0
	}
	return int(f)
}

func has(m map[string]any, path ...string) bool {
	if len(path) == 0 {
		return false
	}
	o := obj(m, path[:len(path)-1]...)
	if o == nil {
		return false
	}
	v, ok := o[path[len(path)-1]]
	return ok && v != nil
}

func strings_(v any) []string {
	list, _ := v.([]any)
	var out []string
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// commitsOf reads a push's commit list, which GitHub, Gitea and GitLab all
// give in the same shape.
func commitsOf(m map[string]any) []Commit {
	list, _ := m["commits"].([]any)
	var out []Commit
	for _, x := range list {
		c, ok := x.(map[string]any)
		if !ok {
			continue
		}
		out = append(out, Commit{
			ID:          str(c, "id"),
			Message:     str(c, "message"),
			Timestamp:   str(c, "timestamp"),
			URL:         str(c, "url"),
			Author:      str(c, "author", "name"),
			AuthorEmail: str(c, "author", "email"),
			Added:       strings_(c["added"]),
			Modified:    strings_(c["modified"]),
			Removed:     strings_(c["removed"]),
		})
	}
	return out
}

func changedFiles(commits []Commit) []string {
	seen := map[string]bool{}
	var out []string
	for _, c := range commits {
		for _, list := range [][]string{c.Added, c.Modified, c.Removed} {
			for _, p := range list {
				if !seen[p] {
					seen[p] = true
					out = append(out, p)
				}
			}
		}
	}
	sort.Strings(out)
	return out
}
