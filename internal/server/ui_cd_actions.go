package server

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/sluice-ci/sluice/internal/cd"
	"github.com/sluice-ci/sluice/internal/store"
)

// Promote and rollback from the environments and release pages. They call
// the same Deployer as the API (and so `sluice promote` and `sluice
// rollback`), under the signed-in person's name: the same gates decide.

// uiFormBack is the page a form asked to return to (a path on this site),
// else def.
func uiFormBack(r *http.Request, def string) string {
	if b := r.PostFormValue("back"); b != "" {
		if safe := uiSafeNext(b); safe == b {
			return b
		}
	}
	return def
}

// uiActor is who a UI action is recorded under.
func uiActor(sess *uiSession) string {
	if sess.Name != "" {
		return sess.Name
	}
	return uiDispatchActor
}

// uiCDRefusal says why the Deployer refused, in the words a person acts on.
func uiCDRefusal(what string, err error) string {
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrConflict),
		errors.Is(err, cd.ErrNotEligible), errors.Is(err, cd.ErrUpstream), errors.Is(err, cd.ErrReleaseRejected),
		errors.Is(err, cd.ErrDigestMismatch), errors.Is(err, cd.ErrNoRollback),
		errors.Is(err, cd.ErrSelfApproval), errors.Is(err, cd.ErrNotReviewer):
		return fmt.Sprintf("Refused %s: %v", what, err)
	}
	return ""
}

func (ui *uiApp) promoteRelease(w http.ResponseWriter, r *http.Request, sess *uiSession) {
	repo, ok := ui.pathRepo(w, r, sess)
	if !ok {
		return
	}
	release := strings.TrimSpace(r.PostFormValue("release"))
	env := strings.TrimSpace(r.PostFormValue("env"))
	back := uiFormBack(r, uiRepoPath(repo.Name, "environments"))
	switch {
	case release == "" || env == "":
		uiBack(w, r, back, "Choose a release and an environment to promote it to.")
		return
	case ui.s.cfg.Deployer == nil:
		uiBack(w, r, back, "This server has no deployer, so releases cannot be promoted.")
		return
	}
	p, err := ui.s.cfg.Deployer.Promote(r.Context(), repo, PromoteRequest{Release: release, Env: env, By: uiActor(sess)})
	if err != nil {
		what := fmt.Sprintf("promoting %s to %s", uiShortRelease(release), env)
		if msg := uiCDRefusal(what, err); msg != "" {
			uiBack(w, r, back, msg)
			return
		}
		ui.fail(w, r, fmt.Errorf("%s: %w", what, err))
		return
	}
	uiBack(w, r, back, fmt.Sprintf("Started promotion #%d of %s into %s (%s).", p.ID, uiShortRelease(p.ReleaseID), p.Env, uiPromotionState(*p)))
}

func (ui *uiApp) rollbackEnv(w http.ResponseWriter, r *http.Request, sess *uiSession) {
	repo, ok := ui.pathRepo(w, r, sess)
	if !ok {
		return
	}
	env := r.PathValue("env")
	back := uiFormBack(r, uiRepoPath(repo.Name, "environments"))
	var to int64
	if v := strings.TrimSpace(r.PostFormValue("to")); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			uiBack(w, r, back, fmt.Sprintf("%q is not a promotion number.", v))
			return
		}
		to = n
	}
	if ui.s.cfg.Deployer == nil {
		uiBack(w, r, back, "This server has no deployer, so environments cannot be rolled back.")
		return
	}
	p, err := ui.s.cfg.Deployer.Rollback(r.Context(), repo, env, to, uiActor(sess))
	if err != nil {
		what := "rolling back " + env
		if msg := uiCDRefusal(what, err); msg != "" {
			uiBack(w, r, back, msg)
			return
		}
		ui.fail(w, r, fmt.Errorf("%s: %w", what, err))
		return
	}
	uiBack(w, r, back, fmt.Sprintf("Started rollback #%d of %s to %s (%s).", p.ID, env, uiShortRelease(p.ReleaseID), uiPromotionState(*p)))
}
