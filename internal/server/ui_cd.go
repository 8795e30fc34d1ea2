package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-ci/sluice/internal/cd"
	"github.com/sluice-ci/sluice/internal/provenance"
	"github.com/sluice-ci/sluice/internal/secrets"
	"github.com/sluice-ci/sluice/internal/store"
)

// The continuous-deployment pages: a repository's environments (what runs
// where, pending approvals, history, rules), its releases, and one release
// with its artifacts' provenance and where it went.

const (
	// uiEnvHistory is how many promotions an environment's history shows.
	uiEnvHistory = 20
	// uiEnvScan bounds the promotions read per environment to find the one
	// deployed now; the store keeps one success per environment, so it is
	// normally among the newest few.
	uiEnvScan = 200
	// uiReleasesShown is the length of a repository's release list.
	uiReleasesShown = 50
	// uiPromoteChoices is how many recent releases a promote form offers.
	uiPromoteChoices = 20
)

// uiPromotionRow is a promotion with what the pages show of its release.
type uiPromotionRow struct {
	cd.Promotion
	ReleaseHex   string // the release ID's hex digits: its page's path
	ReleaseShort string
	Version      string
}

// Waiting reports whether reviewers can decide the promotion now.
func (p uiPromotionRow) Waiting() bool { return p.State == cd.StateWaiting }

type uiEnvCard struct {
	Env     cd.Environment
	Rules   []string
	Current *uiPromotionRow // latest success; nil when nothing is deployed
	Pending []uiPromotionRow
	History []uiPromotionRow
}

type uiEnvsData struct {
	Repo store.Repo
	Envs []uiEnvCard
	// Releases are the newest releases, for the promote forms.
	Releases []uiReleaseRow
	// CanDeploy: the session may promote and roll back.
	CanDeploy bool
}

func (ui *uiApp) environmentsPage(w http.ResponseWriter, r *http.Request, sess *uiSession) {
	ctx := r.Context()
	repo, ok := ui.pathRepo(w, r, sess)
	if !ok {
		return
	}
	db := ui.s.cfg.DB
	envs, err := db.ListEnvironments(ctx, repo.ID)
	if err != nil {
		ui.fail(w, r, fmt.Errorf("listing environments of %s: %w", repo.Name, err))
		return
	}
	active, err := db.ActivePromotions(ctx, repo.ID)
	if err != nil {
		ui.fail(w, r, fmt.Errorf("listing active promotions of %s: %w", repo.Name, err))
		return
	}
	rels := map[string]*cd.Release{}
	d := uiEnvsData{Repo: *repo, CanDeploy: sess.CanWrite() && ui.s.cfg.Deployer != nil}
	recent, err := db.ListReleases(ctx, repo.ID, uiPromoteChoices)
	if err != nil {
		ui.fail(w, r, fmt.Errorf("listing releases of %s: %w", repo.Name, err))
		return
	}
	for _, rel := range recent {
		if !rel.Rejected {
			d.Releases = append(d.Releases, uiReleaseRow{Release: rel, Hex: uiReleaseHex(rel.ID), Short: uiShortRelease(rel.ID)})
		}
	}
	for _, env := range envs {
		card := uiEnvCard{Env: env, Rules: uiEnvRules(env)}
		history, err := db.ListPromotions(ctx, repo.ID, env.Name, uiEnvScan)
		if err != nil {
			ui.fail(w, r, fmt.Errorf("listing promotions of %s: %w", env.Name, err))
			return
		}
		for _, p := range history {
			if p.State == cd.StateSuccess {
				row := ui.promotionRow(ctx, p, rels)
				card.Current = &row
				break
			}
		}
		for _, p := range history[:min(len(history), uiEnvHistory)] {
			card.History = append(card.History, ui.promotionRow(ctx, p, rels))
		}
		for _, p := range active {
			if p.Env == env.Name {
				card.Pending = append(card.Pending, ui.promotionRow(ctx, p, rels))
			}
		}
		d.Envs = append(d.Envs, card)
	}
	ui.render(w, r, "environments.html", http.StatusOK, uiView{Title: repo.Name + " · environments", Nav: "repos", Session: sess, Data: d})
}

// promotionRow completes p with its release's version, reading each release
// once per page through cache. A release that cannot be read only loses its
// version: the promotion is still worth showing.
func (ui *uiApp) promotionRow(ctx context.Context, p cd.Promotion, cache map[string]*cd.Release) uiPromotionRow {
	row := uiPromotionRow{Promotion: p, ReleaseHex: uiReleaseHex(p.ReleaseID), ReleaseShort: uiShortRelease(p.ReleaseID)}
	rel, ok := cache[p.ReleaseID]
	if !ok {
		var err error
		if rel, err = ui.s.cfg.DB.GetRelease(ctx, p.ReleaseID); err != nil {
			ui.s.cfg.Log.Warn("ui: reading release of promotion", "promotion", p.ID, "release", p.ReleaseID, "err", err)
		}
		cache[p.ReleaseID] = rel
	}
	if rel != nil {
		row.Version = rel.Version
	}
	return row
}

// pathRepo is the repository named by the path, or a 404 page.
func (ui *uiApp) pathRepo(w http.ResponseWriter, r *http.Request, sess *uiSession) (*store.Repo, bool) {
	name := r.PathValue("name")
	repo, err := ui.s.cfg.DB.GetRepoByName(r.Context(), name)
	if errors.Is(err, store.ErrNotFound) {
		ui.notFound(w, r, sess, "repository "+name)
		return nil, false
	}
	if err != nil {
		ui.fail(w, r, fmt.Errorf("reading repository %s: %w", name, err))
		return nil, false
	}
	return repo, true
}

// decidePromotion records the approval or rejection of a waiting promotion
// through the Deployer and goes back to the environments page, where a
// refusal (self-approval, not a reviewer, already decided) is the flash.
func (ui *uiApp) decidePromotion(w http.ResponseWriter, r *http.Request, sess *uiSession) {
	ctx := r.Context()
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		ui.notFound(w, r, sess, "promotion "+r.PathValue("id"))
		return
	}
	p, err := ui.s.cfg.DB.GetPromotion(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		ui.notFound(w, r, sess, fmt.Sprintf("promotion %d", id))
		return
	}
	if err != nil {
		ui.fail(w, r, err)
		return
	}
	repo, err := ui.s.cfg.DB.GetRepo(ctx, p.RepoID)
	if err != nil {
		ui.fail(w, r, fmt.Errorf("reading repository of promotion %d: %w", id, err))
		return
	}
	back := uiFormBack(r, uiRepoPath(repo.Name, "environments"))
	var approve bool
	switch r.PostFormValue("decision") {
	case "approve":
		approve = true
	case "reject":
	default:
		uiBack(w, r, back, "Choose Approve or Reject.")
		return
	}
	if ui.s.cfg.Deployer == nil {
		uiBack(w, r, back, "This server has no deployer, so promotions cannot be decided.")
		return
	}
	who, refusal := ui.reviewer(r, sess)
	if refusal != "" {
		uiBack(w, r, back, refusal)
		return
	}
	comment := strings.TrimSpace(r.PostFormValue("comment"))
	if _, err := ui.s.cfg.Deployer.Decide(ctx, id, who, approve, comment); err != nil {
		ui.s.cfg.Log.Info("ui: decision refused", "promotion", id, "by", who, "approve", approve, "err", err)
		uiBack(w, r, back, uiDecideRefusal(id, who, err))
		return
	}
	verb := "rejected"
	if approve {
		verb = "approved"
	}
	uiBack(w, r, back, fmt.Sprintf("%s %s promotion #%d of %s into %s.", who, verb, id, uiShortRelease(p.ReleaseID), p.Env))
}

// reviewer names who decides, or says why nobody can: whoever signed the
// session in (reviewers in environments.yml are API token names), or, when
// the form carries one, the owner of another API token with write scope (a
// shared screen, a session from before sessions remembered names). A
// non-empty second result is the refusal to show.
func (ui *uiApp) reviewer(r *http.Request, sess *uiSession) (string, string) {
	const invalid = "That API token is not valid: decisions are recorded under the name of your own API token."
	tok := strings.TrimSpace(r.PostFormValue("token"))
	if tok == "" {
		if sess != nil && sess.Name != "" {
			return sess.Name, ""
		}
		return "", "Give your API token: decisions are recorded under its name."
	}
	if !secrets.ValidTokenFormat(tok) {
		return "", invalid
	}
	tk, err := ui.s.cfg.DB.GetTokenByHash(r.Context(), secrets.HashToken(tok))
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			ui.s.cfg.Log.Error("ui: looking up a reviewer's token", "err", err)
		}
		return "", invalid
	}
	if strings.HasPrefix(tk.Name, uiSessionPrefix) {
		return "", invalid
	}
	if !uiScopeAllows(tk.Scope, store.ScopeWrite) {
		return "", fmt.Sprintf("The token %s has scope %s; deciding a promotion needs write.", tk.Name, tk.Scope)
	}
	return tk.Name, ""
}

// uiDecideRefusal is the flash for a decision the Deployer refused.
func uiDecideRefusal(id int64, who string, err error) string {
	switch {
	case errors.Is(err, cd.ErrSelfApproval):
		return fmt.Sprintf("Refused: %s started promotion #%d, and whoever starts a promotion cannot approve it. Nothing was recorded.", who, id)
	case errors.Is(err, cd.ErrNotReviewer):
		return fmt.Sprintf("Refused: %s is not a reviewer of this environment. Nothing was recorded.", who)
	case errors.Is(err, store.ErrNotFound):
		return fmt.Sprintf("Promotion #%d no longer exists.", id)
	case errors.Is(err, store.ErrConflict):
		return fmt.Sprintf("Promotion #%d is not waiting for that decision: %v", id, err)
	}
	return fmt.Sprintf("Could not record the decision on promotion #%d: %v", id, err)
}

type uiReleaseRow struct {
	cd.Release
	Hex, Short string
}

type uiReleasesData struct {
	Repo     store.Repo
	Releases []uiReleaseRow
}

func (ui *uiApp) releasesPage(w http.ResponseWriter, r *http.Request, sess *uiSession) {
	repo, ok := ui.pathRepo(w, r, sess)
	if !ok {
		return
	}
	rels, err := ui.s.cfg.DB.ListReleases(r.Context(), repo.ID, uiReleasesShown)
	if err != nil {
		ui.fail(w, r, fmt.Errorf("listing releases of %s: %w", repo.Name, err))
		return
	}
	d := uiReleasesData{Repo: *repo}
	for _, rel := range rels {
		d.Releases = append(d.Releases, uiReleaseRow{Release: rel, Hex: uiReleaseHex(rel.ID), Short: uiShortRelease(rel.ID)})
	}
	ui.render(w, r, "releases.html", http.StatusOK, uiView{Title: repo.Name + " · releases", Nav: "repos", Session: sess, Data: d})
}

// uiProvenance is what the release page shows of an artifact's provenance
// statement.
type uiProvenance struct {
	BuilderID    string
	BuildType    string
	InvocationID string
	Info         provenance.BuildInfo
	Tools        []string // "name version", sorted
}

type uiArtifactRow struct {
	store.ArtifactRecord
	Prov    *uiProvenance
	ProvErr string // the statement is there but unreadable
	Raw     string // the statement, indented
}

type uiReleaseData struct {
	// Envs are the repository's environments, for the promote form;
	// CanDeploy says whether the session may use it.
	Envs       []cd.Environment
	CanDeploy  bool
	Repo       store.Repo
	Release    cd.Release
	Short      string
	Run        *store.Run // nil when the release has no run or it is gone
	Artifacts  []uiArtifactRow
	Promotions []uiPromotionRow
	Repro      []store.ReproCheck // sluice verify-repro results, newest first
}

func (ui *uiApp) releasePage(w http.ResponseWriter, r *http.Request, sess *uiSession) {
	ctx := r.Context()
	repo, ok := ui.pathRepo(w, r, sess)
	if !ok {
		return
	}
	db := ui.s.cfg.DB
	ref := r.PathValue("id")
	rel, err := db.FindRelease(ctx, repo.ID, ref)
	switch {
	case errors.Is(err, store.ErrNotFound):
		ui.notFound(w, r, sess, fmt.Sprintf("release %s in %s", ref, repo.Name))
		return
	case errors.Is(err, store.ErrConflict):
		ui.notFound(w, r, sess, fmt.Sprintf("single release %s in %s: that prefix matches several; give more digits", ref, repo.Name))
		return
	case err != nil:
		ui.fail(w, r, err)
		return
	}
	d := uiReleaseData{Repo: *repo, Release: *rel, Short: uiShortRelease(rel.ID), CanDeploy: sess.CanWrite() && ui.s.cfg.Deployer != nil}
	if d.Envs, err = db.ListEnvironments(ctx, repo.ID); err != nil {
		ui.fail(w, r, fmt.Errorf("listing environments of %s: %w", repo.Name, err))
		return
	}
	if rel.RunID != 0 {
		if run, err := db.GetRun(ctx, rel.RunID); err == nil {
			d.Run = run
		} else if !errors.Is(err, store.ErrNotFound) {
			ui.fail(w, r, fmt.Errorf("reading run %d of release %s: %w", rel.RunID, rel.ID, err))
			return
		}
	}
	for _, a := range rel.Artifacts {
		rec, err := db.GetArtifact(ctx, a.Digest)
		if err != nil {
			ui.fail(w, r, fmt.Errorf("reading artifact %s of release %s: %w", a.Digest, rel.ID, err))
			return
		}
		d.Artifacts = append(d.Artifacts, uiArtifactView(*rec))
	}
	ps, err := db.PromotionsOfRelease(ctx, rel.ID)
	if err != nil {
		ui.fail(w, r, fmt.Errorf("listing promotions of release %s: %w", rel.ID, err))
		return
	}
	cache := map[string]*cd.Release{rel.ID: rel}
	for _, p := range ps {
		d.Promotions = append(d.Promotions, ui.promotionRow(ctx, p, cache))
	}
	if d.Repro, err = db.ListReproChecks(ctx, rel.ID); err != nil {
		ui.fail(w, r, fmt.Errorf("listing reproducibility checks of release %s: %w", rel.ID, err))
		return
	}
	title := "Release " + d.Short
	if rel.Version != "" {
		title += " (" + rel.Version + ")"
	}
	ui.render(w, r, "release.html", http.StatusOK, uiView{Title: title, Nav: "repos", Session: sess, Data: d})
}

// uiArtifactView decodes an artifact's provenance statement for display.
func uiArtifactView(rec store.ArtifactRecord) uiArtifactRow {
	row := uiArtifactRow{ArtifactRecord: rec}
	if len(rec.Provenance) == 0 {
		return row
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, rec.Provenance, "", "  "); err != nil {
		row.Raw = string(rec.Provenance)
	} else {
		row.Raw = buf.String()
	}
	doc, err := provenance.Parse(rec.Provenance)
	if err != nil {
		row.ProvErr = err.Error()
		return row
	}
	p := &uiProvenance{
		BuilderID: doc.Predicate.RunDetails.Builder.ID,
		BuildType: doc.Predicate.BuildDefinition.BuildType,
		Info:      doc.BuildInfo(),
	}
	if md := doc.Predicate.RunDetails.Metadata; md != nil {
		p.InvocationID = md.InvocationID
	}
	for name, v := range p.Info.Tools {
		p.Tools = append(p.Tools, name+" "+v)
	}
	sort.Strings(p.Tools)
	row.Prov = p
	return row
}

// releaseRedirect finds a release by ID or prefix across repositories and
// sends the browser to its canonical page under its repository.
func (ui *uiApp) releaseRedirect(w http.ResponseWriter, r *http.Request, sess *uiSession) {
	ctx := r.Context()
	ref := r.PathValue("id")
	repos, err := ui.s.cfg.DB.ListRepos(ctx)
	if err != nil {
		ui.fail(w, r, err)
		return
	}
	var found []string // canonical paths
	ambiguous := false
	for _, repo := range repos {
		rel, err := ui.s.cfg.DB.FindRelease(ctx, repo.ID, ref)
		switch {
		case errors.Is(err, store.ErrNotFound):
			continue
		case errors.Is(err, store.ErrConflict):
			ambiguous = true
			continue
		case err != nil:
			ui.fail(w, r, err)
			return
		}
		found = append(found, uiReleasePath(repo.Name, rel.ID))
	}
	switch {
	case len(found) == 1 && !ambiguous:
		http.Redirect(w, r, found[0], http.StatusSeeOther)
	case len(found) == 0 && !ambiguous:
		ui.notFound(w, r, sess, "release "+ref)
	default:
		ui.notFound(w, r, sess, "single release "+ref+": that prefix matches several; give more digits")
	}
}

func uiReleasePath(repo, id string) string {
	return uiRepoPath(repo, "releases", uiReleaseHex(id))
}

func uiReleaseHex(id string) string { return strings.TrimPrefix(id, "sha256:") }

// uiShortRelease is the release ID people read: 12 hex digits, as with
// image IDs.
func uiShortRelease(id string) string {
	h := uiReleaseHex(id)
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// uiEnvRules is an environment's protection rules and behaviour, one short
// phrase each.
func uiEnvRules(e cd.Environment) []string {
	var out []string
	if e.Automatic {
		out = append(out, "promoted automatically")
	}
	if len(e.Upstream) > 0 {
		out = append(out, "after "+strings.Join(e.Upstream, ", "))
	}
	if len(e.Reviewers) > 0 {
		need := e.RequiredApprovals
		if need == 0 {
			need = 1 // as cd's gate counts it: reviewers without a count need one of them
		}
		out = append(out, fmt.Sprintf("%d of reviewers %s must approve (not the starter)", need, strings.Join(e.Reviewers, ", ")))
	} else if e.RequiredApprovals > 0 {
		out = append(out, fmt.Sprintf("%d approvals required", e.RequiredApprovals))
	}
	var refs []string
	if len(e.Branches) > 0 {
		refs = append(refs, "branches "+strings.Join(e.Branches, ", "))
	}
	if len(e.Tags) > 0 {
		refs = append(refs, "tags "+strings.Join(e.Tags, ", "))
	}
	if e.PullRequests {
		refs = append(refs, "pull requests")
	}
	if len(refs) == 0 {
		refs = append(refs, "any ref")
	}
	out = append(out, "from "+strings.Join(refs, "; "))
	if len(e.Hotfix) > 0 {
		out = append(out, "hotfixes from "+strings.Join(e.Hotfix, ", "))
	}
	if e.WaitTimer > 0 {
		out = append(out, "wait timer "+uiCompactDuration(e.WaitTimer))
	}
	for _, w := range e.Windows {
		out = append(out, "window "+uiWindow(w))
	}
	if v := e.Verify; v != nil {
		switch {
		case v.HTTP != nil:
			status := v.HTTP.Status
			if status == 0 {
				status = http.StatusOK
			}
			s := fmt.Sprintf("verify GET %s → %d", v.HTTP.URL, status)
			if v.HTTP.Contains != "" {
				s += fmt.Sprintf(" containing %q", v.HTTP.Contains)
			}
			if v.HTTP.Retries > 0 {
				s += fmt.Sprintf(", %d retries", v.HTTP.Retries)
			}
			out = append(out, s)
		case v.Command != nil:
			out = append(out, "verify by running "+v.Command.Run)
		}
	}
	if e.AutoRollback {
		out = append(out, "rolls back by itself when a promotion fails")
	}
	return out
}

// uiCompactDuration drops the zero units time.Duration.String keeps: 10m, 1h30m.
func uiCompactDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// uiWindow reads a deployment window: "Mon,Tue 09:00–17:00 Europe/Paris".
func uiWindow(w cd.Window) string {
	days := "every day"
	if len(w.Days) > 0 {
		names := make([]string, len(w.Days))
		for i, d := range w.Days {
			names[i] = d.String()[:3]
		}
		days = strings.Join(names, ",")
	}
	tz := w.Timezone
	if tz == "" {
		tz = "UTC"
	}
	hm := func(m int) string { return fmt.Sprintf("%02d:%02d", m/60, m%60) }
	return fmt.Sprintf("%s %s–%s %s", days, hm(w.Start), hm(w.End), tz)
}
