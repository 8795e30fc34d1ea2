package server

import (
	"fmt"
	"html/template"
	"net/url"
	"strings"
	"time"

	"github.com/sluice-ci/sluice/internal/cd"
	"github.com/sluice-ci/sluice/internal/store"
)

// uiFuncs are the helpers page templates use.
func uiFuncs() template.FuncMap {
	return template.FuncMap{
		"short":    uiShortSHA,
		"ref":      uiRefName,
		"when":     uiWhen,
		"whenp":    func(t *time.Time) string { return uiWhenPtr(t) },
		"state":    uiState,
		"duration": uiDuration,
		"bytes":    uiBytes,
		"join":     strings.Join,
		"repopath": uiRepoPath,
		"releasepath": func(repo, id string) string {
			return uiReleasePath(repo, id)
		},
		"uiBase": uiJobBase,
		"bannerview": func(b uiDeployBanner, s *uiSession) map[string]any {
			return map[string]any{"B": b, "S": s}
		},
		"promostate": uiPromotionState,
		"pathesc":    url.PathEscape,
		"list":       func(v ...string) []string { return v },
	}
}

// uiRepoPath is a repository's page: /repos/NAME, or /repos/OWNER/NAME for
// names given as on their forge.
func uiRepoPath(name string, rest ...string) string {
	p := "/repos"
	for _, seg := range strings.Split(name, "/") {
		p += "/" + url.PathEscape(seg)
	}
	for _, r := range rest {
		p += "/" + url.PathEscape(r)
	}
	return p
}

// uiPromotionState is how a promotion's state reads: a reviewer's rejection
// is "rejected", not a failure.
func uiPromotionState(p cd.Promotion) string {
	if cd.Rejected(p) {
		return uiStateRejected
	}
	return string(p.State)
}

func uiShortSHA(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

// uiRefName shows a ref the way people say it: main, v1.2, pull/3/merge.
func uiRefName(ref string) string {
	for _, p := range []string{"refs/heads/", "refs/tags/", "refs/"} {
		if s, ok := strings.CutPrefix(ref, p); ok {
			return s
		}
	}
	return ref
}

func uiWhen(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05")
}

func uiWhenPtr(t *time.Time) string {
	if t == nil {
		return "—"
	}
	return uiWhen(*t)
}

// uiState is one word for a run, job or step: its conclusion once completed,
// else its status. It doubles as the CSS class that colours it.
func uiState(status, conclusion string) string {
	if status == store.StatusCompleted && conclusion != "" {
		return conclusion
	}
	return status
}

// uiDuration is how long something ran: until finished, or until now while it
// still runs; "—" before it started.
func uiDuration(started, finished *time.Time) string {
	if started == nil {
		return "—"
	}
	end := time.Now()
	if finished != nil {
		end = *finished
	}
	d := end.Sub(*started).Round(time.Second)
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm %02ds", int(d.Minutes()), int(d.Seconds())%60)
	default:
		return fmt.Sprintf("%dh %02dm", int(d.Hours()), int(d.Minutes())%60)
	}
}

func uiBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
