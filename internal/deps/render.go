package deps

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

func (c Change) arrow() string {
	switch {
	case c.Old == "":
		return "(new) → " + c.New
	case c.New == "":
		return c.Old + " → (removed)"
	}
	return c.Old + " → " + c.New
}

func (c Change) age() string {
	if c.Uploaded.IsZero() {
		return "age unknown"
	}
	if c.AgeDays == 1 {
		return "released 1 day ago"
	}
	return fmt.Sprintf("released %d days ago", c.AgeDays)
}

// WriteText prints the diff for a terminal: per group, package, old → new, type, release
// age and changelog; then what was held back and why.
func (r *Result) WriteText(w io.Writer) {
	if len(r.Changes) == 0 {
		fmt.Fprintf(w, "%s: up to date (%d packages)\n", r.Lock, r.Packages)
	} else {
		fmt.Fprintf(w, "%s: %d change(s) in %d group(s)\n", r.Lock, len(r.Changes), len(r.Groups()))
	}
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	for _, g := range r.Groups() {
		fmt.Fprintf(tw, "group %s\n", g)
		for _, c := range r.Changes {
			if c.Group != g {
				continue
			}
			dev := ""
			if c.Dev {
				dev = " (dev)"
			}
			fmt.Fprintf(tw, "  %s%s\t%s\t%s\t%s\t%s\n", c.Name, dev, c.arrow(), c.Type, c.age(), c.Changelog)
		}
	}
	if len(r.Held) > 0 {
		fmt.Fprintln(tw, "held back")
		for _, h := range r.Held {
			fmt.Fprintf(tw, "  %s\tkept %s\t%s not taken: %s\t\t\n", h.Name, h.Kept, h.Version, h.Reason)
		}
	}
	tw.Flush()
}

// Markdown renders the diff for a pull request body or a page.
func (r *Result) Markdown(group string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| package | change | type | released | changelog |\n|---|---|---|---|---|\n")
	for _, c := range r.Changes {
		if group != "" && c.Group != group {
			continue
		}
		link := ""
		if c.Changelog != "" {
			link = "[changelog](" + strings.ReplaceAll(c.Changelog, ")", "%29") + ")"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", c.Name, c.arrow(), c.Type, c.age(), link)
	}
	if len(r.Held) > 0 {
		b.WriteString("\nHeld back:\n\n")
		for _, h := range r.Held {
			fmt.Fprintf(&b, "- `%s` stays at %s (%s not taken: %s)\n", h.Name, h.Kept, h.Version, h.Reason)
		}
	}
	return b.String()
}

// CommitMessage is the message of an update commit: a conventional subject (a build change:
// no release by itself), the diff, and the Sluice-Update trailer.
func CommitMessage(group string, r *Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "build(deps): update %s (%d package", group, len(r.Changes))
	if len(r.Changes) != 1 {
		b.WriteString("s")
	}
	b.WriteString(")\n\n")
	for _, c := range r.Changes {
		fmt.Fprintf(&b, "- %s %s\n", c.Name, c.arrow())
	}
	fmt.Fprintf(&b, "\n%s: %s\n", TrailerUpdate, group)
	return b.String()
}
