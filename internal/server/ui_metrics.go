package server

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/sluice-ci/sluice/internal/metrics"
	"github.com/sluice-ci/sluice/internal/store"
)

// The metrics page: a repository's delivery figures, each with its definition beside it, and
// server-drawn charts (ui_metrics_chart.go). Everything the template shows is prepared here as
// strings, so the page needs no template function of its own.

// uiFigure is one headline figure of the page.
type uiFigure struct {
	Name, Value, Detail, Definition string
	Empty                           bool // no data: the value says so
}

type uiMetricsData struct {
	Repo      store.Repo
	Q         metricsQuery
	Envs      []string
	Report    *metrics.Report
	Error     string
	EnvNote   string
	Window    string
	DORA      []uiFigure
	Seeds     []uiFigure
	Charts    []*uiChart // the DORA and seed charts
	Pipelines []uiPipeline
	Failures  *uiTable
	Incidents *uiTable
	Pins      *uiTable
	Rollbacks *uiTable
	Flaky     *uiTable
	Slowest   *uiChart
	Tools     *uiTable
}

// uiTable is one of the page's tables, already formatted.
type uiTable struct {
	ID, Title, Empty string
	Head             []string
	Rows             []uiRow
}

// uiRow is a line of one of the page's tables, already formatted.
type uiRow struct {
	Cells []string
	Link  string // the first cell links here when set
}

type uiPipeline struct {
	Name, Runs, Success, Wall, Queue, Compare string
	Chart                                     *uiChart
	Jobs                                      *uiTable
}

func (ui *uiApp) metricsPage(w http.ResponseWriter, r *http.Request, sess *uiSession) {
	repo, ok := ui.pathRepo(w, r, sess)
	if !ok {
		return
	}
	ctx := r.Context()
	d := uiMetricsData{Repo: *repo, Q: metricsQueryOf(r.URL.Query())}
	if envs, err := ui.s.cfg.DB.ListEnvironments(ctx, repo.ID); err == nil {
		for _, e := range envs {
			d.Envs = append(d.Envs, e.Name)
		}
	}
	rep, err := ui.s.repoMetrics(ctx, repo, d.Q, time.Now())
	switch {
	case errors.Is(err, metrics.ErrBadOption), errors.Is(err, errUnknownEnv):
		d.Error = strings.TrimSuffix(strings.TrimSuffix(err.Error(), ": "+metrics.ErrBadOption.Error()), ": "+errUnknownEnv.Error())
		ui.render(w, r, "metrics.html", http.StatusBadRequest, uiView{Title: repo.Name + " · metrics", Nav: "repos", Session: sess, Data: d})
		return
	case err != nil:
		ui.fail(w, r, fmt.Errorf("computing the metrics of %s: %w", repo.Name, err))
		return
	}
	d.Report = rep
	d.fill(rep)
	ui.render(w, r, "metrics.html", http.StatusOK, uiView{Title: repo.Name + " · metrics", Nav: "repos", Session: sess, Data: d})
}

func uiStats(st metrics.Stats) (string, string, bool) {
	if st.Median == nil {
		return "no data", "", true
	}
	return st.Median.String(), fmt.Sprintf("median · p90 %s · %d", st.P90, st.N), false
}

func uiRate(rt metrics.Rate) (string, string, bool) {
	if rt.Value == nil {
		return "no data", "", true
	}
	return rt.Percent(), fmt.Sprintf("%d of %d", rt.Num, rt.Den), false
}

func uiDay(t time.Time) string { return t.UTC().Format("2006-01-02") }

func uiSec(s *metrics.Seconds) string {
	if s == nil {
		return "—"
	}
	return s.String()
}

// fill prepares the page from the report.
func (d *uiMetricsData) fill(r *metrics.Report) {
	d.Window = fmt.Sprintf("last %s (%s → %s)", r.Window, uiDay(r.Since), uiDay(r.Until))
	switch {
	case r.Env == "":
		d.EnvNote = "No environment to measure: " + r.EnvReason + "."
	case r.Empty():
		d.EnvNote = fmt.Sprintf("No deployments to %s yet in the %s.", r.Env, "last "+r.Window)
	}
	dora := r.DORA
	fr := dora.Frequency
	freq := uiFigure{Name: "Deployment frequency", Value: fmt.Sprintf("%.2f / week", fr.PerWeek),
		Detail: fmt.Sprintf("%d deployments · %s", fr.Count, fr.Bucket), Definition: fr.Definition + " " + fr.BucketDefinition, Empty: fr.Count == 0}
	if fr.Count == 0 {
		freq.Value, freq.Detail = "no deployments yet", ""
	}
	lv, ld, le := uiStats(dora.LeadTime.Stats)
	cv, cdt, ce := uiRate(dora.ChangeFailRate.Rate)
	rv, rd, re := uiStats(dora.Recovery.Stats)
	if dora.Recovery.Open > 0 {
		rd = strings.TrimPrefix(rd+fmt.Sprintf(" · %d open", dora.Recovery.Open), " · ")
	}
	wv, wd, we := uiRate(dora.Rework.Rate)
	d.DORA = []uiFigure{freq,
		{Name: "Change lead time", Value: lv, Detail: ld, Definition: dora.LeadTime.Definition, Empty: le},
		{Name: "Change fail rate", Value: cv, Detail: cdt, Definition: dora.ChangeFailRate.Definition, Empty: ce},
		{Name: "Failed deployment recovery time", Value: rv, Detail: rd, Definition: dora.Recovery.Definition, Empty: re},
		{Name: "Deployment rework rate", Value: wv, Detail: wd, Definition: dora.Rework.Definition, Empty: we},
	}
	mv, md, me := uiStats(r.Dependencies.MTTR)
	md = strings.TrimPrefix(fmt.Sprintf("%s · %d incidents · %d open", md, len(r.Dependencies.Incidents), r.Dependencies.Open), " · ")
	pv, pd, pe := uiRate(r.Reproducibility.Rate)
	d.Seeds = []uiFigure{
		{Name: "MTTR of dependency incidents", Value: mv, Detail: md, Definition: r.Dependencies.Definition, Empty: me},
		{Name: "Build reproducibility", Value: pv, Detail: pd, Definition: r.Reproducibility.Definition, Empty: pe},
		{Name: "Emergency pins and rollbacks", Value: fmt.Sprintf("%d · %d", len(r.Pins.Pins), len(r.Pins.Rollbacks)),
			Detail: "pins · rollbacks", Definition: r.Pins.Definition},
	}

	// Deployments and lead time per week.
	var weeks []string
	var deploys, leads []*float64
	for _, wk := range fr.Weeks {
		weeks = append(weeks, wk.Start.Format("01-02"))
		deploys = append(deploys, uiF(float64(wk.Deployments)))
		var ds []time.Duration
		for _, c := range dora.LeadTime.Commits {
			if !c.Deployed.Before(wk.Start) && c.Deployed.Before(wk.End) || c.Deployed.Equal(wk.End) && wk.End.Equal(r.Until) {
				ds = append(ds, time.Duration(c.Lead))
			}
		}
		if len(ds) == 0 {
			leads = append(leads, nil)
			continue
		}
		slices.Sort(ds)
		leads = append(leads, uiF(ds[(len(ds)+1)/2-1].Seconds()))
	}
	deployChart := uiBarChart("chart-deployments", "Deployments per week", "Successful promotions into "+r.Env+" per 7 days, oldest first.", weeks,
		[]uiSeries{{Name: "deployments", Class: "s1", Vals: deploys}}, uiCount)
	leadChart := uiLineChart("chart-lead-time", "Change lead time per week", "Median lead time of the commits deployed each week.", weeks,
		[]uiSeries{{Name: "median lead time", Class: "s2", Vals: leads}}, uiSeconds)
	if fr.Count == 0 {
		deployChart.Empty, leadChart.Empty = "No deployments yet.", "No deployments yet."
	}
	d.Charts = append(d.Charts, deployChart, leadChart)
	var months []string
	var pins, rollbacks []*float64
	for _, m := range r.Pins.Months {
		months = append(months, m.Month)
		pins = append(pins, uiF(float64(m.Pins)))
		rollbacks = append(rollbacks, uiF(float64(m.Rollbacks)))
	}
	d.Charts = append(d.Charts, uiBarChart("chart-pins", "Emergency pins and rollbacks per month", "Per calendar month (UTC).", months,
		[]uiSeries{{Name: "pins", Class: "s3", Vals: pins}, {Name: "rollbacks", Class: "s4", Vals: rollbacks}}, uiCount))
	var rm []string
	var rr []*float64
	for _, m := range r.Reproducibility.Months {
		rm = append(rm, m.Month)
		rr = append(rr, m.Value)
	}
	repro := uiBarChart("chart-repro", "Build reproducibility per month", "Share of the releases judged each month that rebuilt identical.", rm,
		[]uiSeries{{Name: "reproducible", Class: "s2", Vals: rr}}, uiShare)
	if len(rm) == 0 {
		repro.Empty = "No release was rebuilt or checked with verify-repro in the window."
	}
	d.Charts = append(d.Charts, repro)

	d.Failures = &uiTable{ID: "failures", Title: "Failed deployments", Empty: "No failed deployments in the window.",
		Head: []string{"Promotion", "Ended", "Commit", "Why", "Recovered in"}}
	for _, f := range dora.ChangeFailRate.Failures {
		rec := "not yet"
		if f.Recovery != nil {
			rec = fmt.Sprintf("%s (promotion #%d)", f.Recovery, f.RecoveredBy)
		}
		d.Failures.Rows = append(d.Failures.Rows, uiRow{Cells: []string{fmt.Sprintf("#%d", f.Promotion), uiDay(f.At), uiShortSHA(f.Commit), strings.Join(f.Why, "; "), rec}})
	}
	d.Incidents = &uiTable{ID: "incidents", Title: "Dependency incidents", Empty: "No run or deployment broke on a dependency-only change.",
		Head: []string{"Broke", "Commit", "Files", "Started", "Lasted"}}
	for _, in := range r.Dependencies.Incidents {
		what := in.WorkflowName
		if in.Kind == "deployment" {
			what = fmt.Sprintf("%s, promotion #%d", in.Env, in.Promotion)
		}
		link := ""
		if in.Run != 0 {
			link = fmt.Sprintf("/runs/%d", in.Run)
		}
		d.Incidents.Rows = append(d.Incidents.Rows, uiRow{Cells: []string{what, uiShortSHA(in.Commit), strings.Join(in.Files, ", "), uiDay(in.Start), uiSec(in.Duration)}, Link: link})
	}
	d.Pins = &uiTable{ID: "pins", Title: "Emergency pins", Empty: "No emergency pins on the default branch in the window.",
		Head: []string{"Commit", "Date", "Subject", "What", "Reason"}}
	for _, p := range r.Pins.Pins {
		var what []string
		for _, c := range p.Changes {
			what = append(what, fmt.Sprintf("%s %s (%s)", c.Package, c.Kind, c.To))
		}
		if len(p.Trailer) > 0 {
			what = append(what, "Sluice-Pin: "+strings.Join(p.Trailer, ", "))
		}
		d.Pins.Rows = append(d.Pins.Rows, uiRow{Cells: []string{uiShortSHA(p.Commit), uiDay(p.At), p.Subject, strings.Join(what, "; "), p.Reason}, Link: p.Link})
	}
	d.Rollbacks = &uiTable{ID: "rollbacks", Title: "Rollbacks", Empty: "No rollbacks in the window.",
		Head: []string{"Promotion", "Date", "Release", "By"}}
	for _, rb := range r.Pins.Rollbacks {
		by := rb.StartedBy
		if rb.Auto {
			by = "automatic"
		}
		d.Rollbacks.Rows = append(d.Rollbacks.Rows, uiRow{Cells: []string{fmt.Sprintf("#%d", rb.Promotion), uiDay(rb.At), uiShortRelease(rb.Release), by}})
	}

	for i, wf := range r.Pipelines.Workflows {
		p := uiPipeline{Name: wf.Name, Runs: fmt.Sprint(wf.Runs), Success: wf.SuccessRate.Percent(),
			Wall: uiSec(wf.Wall.Median) + " / " + uiSec(wf.Wall.P90), Queue: uiSec(wf.Queue.Median) + " / " + uiSec(wf.Queue.P90)}
		if wf.Compare != nil {
			p.Compare = wf.Compare.Summary
		}
		var xs []string
		var p50, p90 []*float64
		for _, wk := range wf.Weeks {
			xs = append(xs, wk.Week[5:])
			p50 = append(p50, secondsOf(wk.Wall.Median))
			p90 = append(p90, secondsOf(wk.Wall.P90))
		}
		p.Chart = uiLineChart(fmt.Sprintf("chart-pipeline-%d", i), wf.Name+": wall time per week", "Median and 90th percentile wall time of its runs per ISO week.",
			xs, []uiSeries{{Name: "p50", Class: "s1", Vals: p50}, {Name: "p90", Class: "s4", Vals: p90}}, uiSeconds)
		p.Jobs = &uiTable{ID: fmt.Sprintf("jobs-%d", i), Head: []string{"Job", "Runs", "Success", "Wall p50 / p90", "Queue p50 / p90"}}
		for _, j := range wf.Jobs {
			p.Jobs.Rows = append(p.Jobs.Rows, uiRow{Cells: []string{j.Name, fmt.Sprint(j.Runs), j.SuccessRate.Percent(),
				uiSec(j.Wall.Median) + " / " + uiSec(j.Wall.P90), uiSec(j.Queue.Median) + " / " + uiSec(j.Queue.P90)}})
		}
		d.Pipelines = append(d.Pipelines, p)
	}

	d.Flaky = &uiTable{ID: "flaky", Title: "Flaky tests", Empty: "No flaky tests in the window.",
		Head: []string{"Test", "Job", "Flaky on", "Flake rate", "Last seen"}}
	for _, f := range r.Tests.Flaky {
		d.Flaky.Rows = append(d.Flaky.Rows, uiRow{Cells: []string{f.Name, f.Job, fmt.Sprintf("%d of %d", f.Flakes, f.Commits), f.Rate.Percent(), uiDay(f.LastSeen)}})
	}
	if len(r.Tests.Slowest) > 0 {
		weekSet := map[string]bool{}
		for _, s := range r.Tests.Slowest {
			for _, wk := range s.Weeks {
				weekSet[wk.Week] = true
			}
		}
		var xs []string
		for w := range weekSet {
			xs = append(xs, w)
		}
		slices.Sort(xs)
		var series []uiSeries
		for i, s := range r.Tests.Slowest[:min(5, len(r.Tests.Slowest))] {
			vals := make([]*float64, len(xs))
			for _, wk := range s.Weeks {
				vals[slices.Index(xs, wk.Week)] = uiF(wk.Mean.Float())
			}
			series = append(series, uiSeries{Name: s.Name, Class: fmt.Sprintf("s%d", i+1), Vals: vals})
		}
		labels := make([]string, len(xs))
		for i, x := range xs {
			labels[i] = x[5:]
		}
		d.Slowest = uiLineChart("chart-slowest", "Slowest tests: mean duration per week", "The five slowest tests' mean duration per ISO week.",
			labels, series, uiSeconds)
	}
	if t := r.Tools; t != nil {
		d.Tools = &uiTable{ID: "tools", Title: "Jobs by " + t.Tool + " version",
			Empty: fmt.Sprintf("No job recorded %s in the window (recorded: %s).", t.Tool, strings.Join(t.Available, ", ")),
			Head:  []string{"Version", "Jobs", "Failures", "Success", "Wall p50", "First seen"}}
		for _, v := range t.Versions {
			d.Tools.Rows = append(d.Tools.Rows, uiRow{Cells: []string{v.Version, fmt.Sprint(v.Jobs), fmt.Sprint(v.Failures), v.SuccessRate.Percent(), uiSec(v.Wall.Median), uiDay(v.FirstSeen)}})
		}
	}
}

func secondsOf(s *metrics.Seconds) *float64 {
	if s == nil {
		return nil
	}
	return uiF(s.Float())
}
