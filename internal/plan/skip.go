package plan

import (
	"strings"

	"github.com/sluice-ci/sluice/internal/lazyre"
)

// skipMarkers are the commit message markers GitHub documents as skipping push and
// pull_request workflow runs.
var skipMarkers = []string{"[skip ci]", "[ci skip]", "[no ci]", "[skip actions]", "[actions skip]"}

// skipChecks matches the skip-checks trailer ("skip-checks: true", key in any case).
var skipChecks = lazyre.New(`(?i)^skip-checks:\s*true\s*$`)

// SkipsCI says whether a commit message asks that no workflow run for it, as GitHub reads
// it for push and pull_request events (the head commit's message): one of the bracketed
// markers anywhere in the message, or a skip-checks: true trailer in its last paragraph.
// Markers compare case-insensitively, as on GitHub.
func SkipsCI(event, message string) bool {
	switch event {
	case "push", "pull_request":
	default:
		return false
	}
	lower := strings.ToLower(message)
	for _, m := range skipMarkers {
		if strings.Contains(lower, m) {
			return true
		}
	}
	paras := strings.Split(strings.TrimSpace(strings.ReplaceAll(message, "\r\n", "\n")), "\n\n")
	if len(paras) < 2 {
		return false // a trailer follows the subject, never is it
	}
	for _, line := range strings.Split(paras[len(paras)-1], "\n") {
		if skipChecks.MatchString(strings.TrimSpace(line)) {
			return true
		}
	}
	return false
}
