package release

import (
	"fmt"
	"strings"
	"time"

	"github.com/sluice-ci/sluice/internal/lazyre"
)

// sections are Keep a Changelog's headings in the order they are written, and which
// conventional types go under each.
var sections = []struct {
	title string
	types []string
}{
	{"Added", []string{"feat"}},
	{"Changed", []string{"refactor", "perf"}},
	{"Fixed", []string{"fix"}},
}

// Section renders one release's changelog section: breaking changes first, then Added,
// Changed, Fixed; each entry links its commit when commitURL ("…/{sha}") is known.
func Section(version string, date time.Time, changes []Change, commitURL string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## [%s] - %s\n", version, date.UTC().Format("2006-01-02"))
	entry := func(c Change) string {
		text := c.Description
		if c.Scope != "" {
			text = "**" + c.Scope + "**: " + text
		}
		short := c.SHA
		if len(short) > 7 {
			short = short[:7]
		}
		if commitURL != "" {
			return fmt.Sprintf("- %s ([%s](%s))\n", text, short, strings.ReplaceAll(commitURL, "{sha}", c.SHA))
		}
		return fmt.Sprintf("- %s (%s)\n", text, short)
	}
	var breaking []Change
	for _, c := range changes {
		if c.Breaking {
			breaking = append(breaking, c)
		}
	}
	if len(breaking) > 0 {
		b.WriteString("\n### Breaking changes\n\n")
		for _, c := range breaking {
			if c.BreakingNote != "" {
				c.Description += " — " + c.BreakingNote
			}
			b.WriteString(entry(c))
		}
	}
	for _, s := range sections {
		var lines []string
		for _, c := range changes {
			for _, t := range s.types {
				if c.Type == t {
					lines = append(lines, entry(c))
				}
			}
		}
		if len(lines) == 0 {
			continue
		}
		b.WriteString("\n### " + s.title + "\n\n")
		b.WriteString(strings.Join(lines, ""))
	}
	return b.String()
}

var (
	releaseHeadRe    = lazyre.New(`(?m)^## `)
	unreleasedHeadRe = lazyre.New(`(?mi)^## \[?unreleased\]?.*$`)
)

// Prepend puts section above the newest release of an existing changelog (below its title,
// introduction and an "Unreleased" section), or starts a new changelog.
func Prepend(existing, section string) string {
	if strings.TrimSpace(existing) == "" {
		return "# Changelog\n\nAll notable changes to this project are documented in this file.\nThe format is based on [Keep a Changelog](https://keepachangelog.com/en/1.1.0/).\n\n" + section
	}
	at := -1
	locs := releaseHeadRe.FindAllStringIndex(existing, -1)
	for _, l := range locs {
		if unreleasedHeadRe.MatchString(existing[l[0]:min(len(existing), l[0]+200)]) && strings.HasPrefix(strings.ToLower(strings.TrimLeft(existing[l[0]+3:], "[")), "unreleased") {
			continue
		}
		at = l[0]
		break
	}
	if at < 0 {
		return strings.TrimRight(existing, "\n") + "\n\n" + section
	}
	return existing[:at] + section + "\n" + existing[at:]
}
