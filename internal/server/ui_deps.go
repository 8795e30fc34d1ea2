package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/sluice-ci/sluice/internal/deps"
	"github.com/sluice-ci/sluice/internal/store"
)

// uiDepsUpdate is one update row of the dependencies page.
type uiDepsUpdate struct {
	store.DepUpdate
	Result deps.Result
}

type uiDepsData struct {
	Repo       store.Repo
	Status     *store.DepStatus
	OldestDays int
	LastUpdate *time.Time
	Pending    []uiDepsUpdate
	Recent     []uiDepsUpdate
	Pins       []deps.Pin
	Now        time.Time
}

func (ui *uiApp) depsPage(w http.ResponseWriter, r *http.Request, sess *uiSession) {
	repo, ok := ui.pathRepo(w, r, sess)
	if !ok {
		return
	}
	v, err := ui.s.depsView(r.Context(), repo)
	if err != nil {
		ui.fail(w, r, fmt.Errorf("reading the dependencies of %s: %w", repo.Name, err))
		return
	}
	now := time.Now()
	d := uiDepsData{Repo: *repo, Status: v.Status, Pins: v.Pins, Now: now}
	if v.Status != nil && !v.Status.OldestUploaded.IsZero() {
		d.OldestDays = int(now.Sub(v.Status.OldestUploaded).Hours() / 24)
	}
	for _, u := range v.Updates {
		row := uiDepsUpdate{DepUpdate: u}
		_ = json.Unmarshal(u.Changes, &row.Result)
		if u.State == store.DepMerged || u.State == store.DepPROpen || u.State == store.DepPassed {
			if d.LastUpdate == nil || u.Updated.After(*d.LastUpdate) {
				t := u.Updated
				d.LastUpdate = &t
			}
		}
		if u.Active() {
			d.Pending = append(d.Pending, row)
		} else {
			d.Recent = append(d.Recent, row)
		}
	}
	ui.render(w, r, "deps.html", http.StatusOK, uiView{Title: repo.Name + " · dependencies", Nav: "repos", Session: sess, Data: d})
}
