package forge

import (
	"fmt"
	"strings"
)

// A webhook's refs and commit ids reach git's command line (fetches, diffs,
// checkouts). They are checked here, where a delivery is parsed, so nothing
// downstream ever sees one that is not a plain ref name or a plain object id.

// CheckSHA accepts an object id: 40 (SHA-1) or 64 (SHA-256) hex digits.
func CheckSHA(s string) error {
	if len(s) != 40 && len(s) != 64 {
		return fmt.Errorf("commit id %q is not 40 or 64 hexadecimal digits", clip(s))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return fmt.Errorf("commit id %q is not 40 or 64 hexadecimal digits", clip(s))
		}
	}
	return nil
}

// CheckRef accepts a full ref name (refs/heads/main, refs/tags/v1,
// refs/pull/3/merge) by git's check-ref-format rules, and also refuses a
// component starting with '-', which git allows in a full ref but which
// could read as an option where a short name is used.
func CheckRef(ref string) error {
	bad := func(why string) error { return fmt.Errorf("ref %q is not a valid ref name: %s", clip(ref), why) }
	if !strings.HasPrefix(ref, "refs/") {
		return bad("it must start with refs/")
	}
	if len(ref) > 1024 {
		return bad("it is longer than 1024 bytes")
	}
	if strings.HasSuffix(ref, "/") || strings.Contains(ref, "//") {
		return bad("empty component")
	}
	if strings.HasSuffix(ref, ".") {
		return bad("it ends with '.'")
	}
	if strings.Contains(ref, "..") {
		return bad("it contains '..'")
	}
	if strings.Contains(ref, "@{") {
		return bad("it contains '@{'")
	}
	for _, r := range ref {
		switch {
		case r < 0x20 || r == 0x7f:
			return bad("it contains a control character")
		case strings.ContainsRune(" ~^:?*[\\", r):
			return bad(fmt.Sprintf("it contains %q", r))
		}
	}
	for _, c := range strings.Split(ref, "/") {
		switch {
		case strings.HasPrefix(c, "."):
			return bad("a component starts with '.'")
		case strings.HasPrefix(c, "-"):
			return bad("a component starts with '-'")
		case strings.HasSuffix(c, ".lock"):
			return bad("a component ends with .lock")
		}
	}
	return nil
}

// CheckBranch accepts a short branch name (a pull request's base or head).
func CheckBranch(name string) error {
	if name == "" || name == "@" {
		return fmt.Errorf("branch name %q is not valid", name)
	}
	if err := CheckRef("refs/heads/" + name); err != nil {
		return fmt.Errorf("branch name %q is not valid: %w", clip(name), err)
	}
	return nil
}

// check validates every ref and commit id of a parsed event.
func (ev *Event) check() error {
	if ev.Ref != "" {
		if err := CheckRef(ev.Ref); err != nil {
			return err
		}
	}
	for _, b := range []string{ev.BaseRef, ev.HeadRef} {
		if b != "" {
			if err := CheckBranch(b); err != nil {
				return err
			}
		}
	}
	for _, s := range []*string{&ev.Before, &ev.After, &ev.HeadSHA} {
		if *s == "" {
			continue
		}
		if err := CheckSHA(*s); err != nil {
			return err
		}
		*s = strings.ToLower(*s)
	}
	for i := range ev.Commits {
		if ev.Commits[i].ID != "" {
			if err := CheckSHA(ev.Commits[i].ID); err != nil {
				return err
			}
		}
	}
	return nil
}

// clip shortens what goes into an error message.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
