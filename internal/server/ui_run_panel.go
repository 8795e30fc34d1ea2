package server

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path"
	"strconv"
	"strings"

	"github.com/sluice-ci/sluice/internal/cd"
	"github.com/sluice-ci/sluice/internal/lazyre"
	"github.com/sluice-ci/sluice/internal/store"
)

// uiAnnotationLoc matches the "file:line[:col]: message" form the job
// runner gives an annotation's log line (jobrunner.lineSink).
var uiAnnotationLoc = lazyre.New(`^([^\s:][^:\n]{0,300}?):(\d{1,9})(?::\d{1,9})?: (.*)$`)

// uiParseAnnotation reads an annotation's log line.
func uiParseAnnotation(level, text string) uiAnnotation {
	a := uiAnnotation{Level: level, Message: text}
	if m := uiAnnotationLoc.FindStringSubmatch(text); m != nil {
		n, err := strconv.Atoi(m[2])
		if err == nil {
			a.File, a.Line, a.Message = m[1], n, m[3]
		}
	}
	return a
}

// uiSourceURL links a workspace-relative file at a commit on the forge the
// repository URL points at, for the forges whose URL layout is known from
// the host name; "" otherwise (the page then links the log line). Paths
// that are absolute or climb out of the repository get no link.
func uiSourceURL(repoURL, sha, file string, line int) string {
	u, err := url.Parse(repoURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || sha == "" {
		return ""
	}
	clean := path.Clean(file)
	if path.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
		return ""
	}
	repoPath := strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), ".git")
	host := strings.ToLower(u.Hostname())
	var blob string
	switch {
	case strings.Contains(host, "github"):
		blob = "/blob/"
	case strings.Contains(host, "gitlab"):
		blob = "/-/blob/"
	case strings.Contains(host, "gitea"), strings.Contains(host, "forgejo"), strings.Contains(host, "codeberg"):
		blob = "/src/commit/"
	default:
		return ""
	}
	out := url.URL{Scheme: u.Scheme, Host: u.Host, Path: repoPath + blob + sha + "/" + clean}
	s := out.String()
	if line > 0 {
		s += "#L" + strconv.Itoa(line)
	}
	return s
}

// uiShellQuote quotes a test id for a POSIX shell when it needs it
// (parametrized ids hold brackets and spaces).
func uiShellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./:") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// uiDeployBanner is a deployment waiting for reviewers, as the run and
// repository pages announce it.
type uiDeployBanner struct {
	Promotion uiPromotionRow
	Need      int      // approvals still needed
	Who       []string // who may give them
	// CanApprove and CanReject: what the signed-in person may do now (the
	// starter of a promotion may only withdraw it by rejecting); WhyNot says
	// why they cannot approve.
	CanApprove, CanReject bool
	// AskToken: the session has no name to decide under, so the form asks
	// for an API token.
	AskToken bool
	WhyNot   string
	Back     string // where the decision form returns to
	Repo     string
}

// deployBanners lists the promotions among ps that wait for reviewers.
func (ui *uiApp) deployBanners(ctx context.Context, repo *store.Repo, ps []cd.Promotion, sess *uiSession, back string) ([]uiDeployBanner, error) {
	var out []uiDeployBanner
	var envs []cd.Environment
	rels := map[string]*cd.Release{}
	for _, p := range ps {
		if p.State != cd.StateWaiting && p.State != cd.StateQueued {
			continue
		}
		if envs == nil {
			var err error
			if envs, err = ui.s.cfg.DB.ListEnvironments(ctx, repo.ID); err != nil {
				return nil, fmt.Errorf("listing environments of %s: %w", repo.Name, err)
			}
		}
		var env *cd.Environment
		for i := range envs {
			if envs[i].Name == p.Env {
				env = &envs[i]
			}
		}
		if env == nil {
			continue
		}
		need, who := cd.PendingReview(*env, p)
		if need == 0 {
			continue // waiting for a timer, a window or the environment's lock: nothing to decide
		}
		b := uiDeployBanner{Promotion: ui.promotionRow(ctx, p, rels), Need: need, Who: who, Back: back, Repo: repo.Name}
		switch {
		case sess == nil || !sess.CanWrite():
			b.WhyNot = "Deciding needs a sign-in with write scope."
		case sess.Name == "":
			b.CanApprove, b.CanReject, b.AskToken = true, true, true
		default:
			approveErr := cd.CheckApproval(*env, p, cd.Approval{By: sess.Name, Approve: true})
			b.CanApprove = approveErr == nil
			b.CanReject = cd.CheckApproval(*env, p, cd.Approval{By: sess.Name}) == nil
			switch {
			case errors.Is(approveErr, cd.ErrSelfApproval):
				b.WhyNot = "You started this deployment, so someone else must approve it."
			case errors.Is(approveErr, cd.ErrNotReviewer):
				b.WhyNot = fmt.Sprintf("You (%s) are not a reviewer of %s.", sess.Name, env.Name)
			case approveErr != nil:
				b.WhyNot = "You have already reviewed it."
			}
		}
		out = append(out, b)
	}
	return out, nil
}
