package metrics

import (
	"encoding/csv"
	"io"
	"strconv"
	"strings"
	"time"
)

// CSVHeader names the columns of WriteCSV: one figure per row, in long form, so that a
// spreadsheet or a script can pivot it as it likes.
var CSVHeader = []string{"section", "subject", "metric", "period", "value", "unit"}

// WriteCSV writes the report's figures, one per row. A figure without data (no deployments, no
// runs) has an empty value, never NaN. Cells that a spreadsheet would read as a formula are
// quoted with a leading apostrophe: workflow, job and test names come from pushes.
func WriteCSV(w io.Writer, r *Report) error {
	cw := csv.NewWriter(w)
	row := func(cells ...string) {
		for i, c := range cells {
			cells[i] = safeCell(c)
		}
		_ = cw.Write(cells)
	}
	num := func(n int) string { return strconv.Itoa(n) }
	flt := func(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
	sec := func(s *Seconds) string {
		if s == nil {
			return ""
		}
		return flt(s.Float())
	}
	ratio := func(rt Rate) string {
		if rt.Value == nil {
			return ""
		}
		return flt(*rt.Value)
	}
	stats := func(section, subject, name, period string, st Stats) {
		row(section, subject, name+"_median", period, sec(st.Median), "seconds")
		row(section, subject, name+"_p90", period, sec(st.P90), "seconds")
		row(section, subject, name+"_count", period, num(st.N), "count")
	}
	row(CSVHeader...)
	d := r.DORA
	row("window", r.Repo, "since", "", r.Since.Format(time.RFC3339), "time")
	row("window", r.Repo, "until", "", r.Until.Format(time.RFC3339), "time")
	row("dora", r.Env, "deployments", "", num(d.Frequency.Count), "count")
	row("dora", r.Env, "deployments_per_day", "", flt(d.Frequency.PerDay), "per_day")
	row("dora", r.Env, "deployments_per_week", "", flt(d.Frequency.PerWeek), "per_week")
	row("dora", r.Env, "deployment_frequency_bucket", "", d.Frequency.Bucket, "")
	for _, wk := range d.Frequency.Weeks {
		row("dora", r.Env, "deployments", wk.Start.Format("2006-01-02"), num(wk.Deployments), "count")
	}
	stats("dora", r.Env, "lead_time", "", d.LeadTime.Stats)
	row("dora", r.Env, "change_fail_rate", "", ratio(d.ChangeFailRate.Rate), "ratio")
	row("dora", r.Env, "change_failures", "", num(d.ChangeFailRate.Num), "count")
	row("dora", r.Env, "change_deployments", "", num(d.ChangeFailRate.Den), "count")
	stats("dora", r.Env, "recovery_time", "", d.Recovery.Stats)
	row("dora", r.Env, "recovery_open", "", num(d.Recovery.Open), "count")
	row("dora", r.Env, "rework_rate", "", ratio(d.Rework.Rate), "ratio")
	row("dora", r.Env, "rework_deployments", "", num(d.Rework.Num), "count")

	stats("dependency_incidents", r.Repo, "mttr", "", r.Dependencies.MTTR)
	row("dependency_incidents", r.Repo, "open", "", num(r.Dependencies.Open), "count")
	for _, in := range r.Dependencies.Incidents {
		row("dependency_incidents", in.Commit, "duration", in.Start.Format(time.RFC3339), sec(in.Duration), "seconds")
	}
	row("reproducibility", r.Repo, "rate", "", ratio(r.Reproducibility.Rate), "ratio")
	row("reproducibility", r.Repo, "releases_judged", "", num(r.Reproducibility.Den), "count")
	for _, m := range r.Reproducibility.Months {
		row("reproducibility", r.Repo, "rate", m.Month, ratio(m.Rate), "ratio")
	}
	for _, m := range r.Pins.Months {
		row("pins", r.Repo, "emergency_pins", m.Month, num(m.Pins), "count")
		row("pins", r.Env, "rollbacks", m.Month, num(m.Rollbacks), "count")
	}
	for _, p := range r.Pins.Pins {
		var what []string
		for _, c := range p.Changes {
			what = append(what, c.Package+" "+c.Kind)
		}
		if len(p.Trailer) > 0 {
			what = append(what, "Sluice-Pin: "+strings.Join(p.Trailer, ", "))
		}
		row("pins", p.Commit, "pin", p.At.Format(time.RFC3339), strings.Join(what, "; "), "")
	}
	for _, w := range r.Pipelines.Workflows {
		row("pipelines", w.Name, "runs", "", num(w.Runs), "count")
		row("pipelines", w.Name, "success_rate", "", ratio(w.SuccessRate), "ratio")
		stats("pipelines", w.Name, "wall", "", w.Wall)
		stats("pipelines", w.Name, "queue", "", w.Queue)
		for _, wk := range w.Weeks {
			row("pipelines", w.Name, "success_rate", wk.Week, ratio(wk.SuccessRate), "ratio")
			stats("pipelines", w.Name, "wall", wk.Week, wk.Wall)
			stats("pipelines", w.Name, "queue", wk.Week, wk.Queue)
		}
		for _, j := range w.Jobs {
			row("pipelines", w.Name+" / "+j.Name, "success_rate", "", ratio(j.SuccessRate), "ratio")
			stats("pipelines", w.Name+" / "+j.Name, "wall", "", j.Wall)
			stats("pipelines", w.Name+" / "+j.Name, "queue", "", j.Queue)
			for _, wk := range j.Weeks {
				row("pipelines", w.Name+" / "+j.Name, "success_rate", wk.Week, ratio(wk.SuccessRate), "ratio")
				stats("pipelines", w.Name+" / "+j.Name, "wall", wk.Week, wk.Wall)
				stats("pipelines", w.Name+" / "+j.Name, "queue", wk.Week, wk.Queue)
			}
		}
		if c := w.Compare; c != nil {
			stats("pipelines", w.Name, "wall_before", r.Pipelines.Compare.Pivot, c.Before)
			stats("pipelines", w.Name, "wall_after", r.Pipelines.Compare.Pivot, c.After)
			if c.P50Change != nil {
				row("pipelines", w.Name, "wall_median_change", r.Pipelines.Compare.Pivot, flt(*c.P50Change), "percent")
			}
		}
	}
	for _, f := range r.Tests.Flaky {
		row("tests", f.Name, "flake_rate", "", ratio(f.Rate), "ratio")
		row("tests", f.Name, "flaky_commits", "", num(f.Flakes), "count")
		row("tests", f.Name, "last_seen", "", f.LastSeen.Format(time.RFC3339), "time")
	}
	for _, s := range r.Tests.Slowest {
		row("tests", s.Name, "mean_duration", "", flt(s.Mean.Float()), "seconds")
		for _, wk := range s.Weeks {
			row("tests", s.Name, "mean_duration", wk.Week, flt(wk.Mean.Float()), "seconds")
		}
	}
	if t := r.Tools; t != nil {
		for _, v := range t.Versions {
			subject := t.Tool + " " + v.Version
			row("tools", subject, "jobs", "", num(v.Jobs), "count")
			row("tools", subject, "failures", "", num(v.Failures), "count")
			row("tools", subject, "success_rate", "", ratio(v.SuccessRate), "ratio")
			stats("tools", subject, "wall", "", v.Wall)
		}
	}
	cw.Flush()
	return cw.Error()
}

// safeCell keeps a spreadsheet from running a cell as a formula.
func safeCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		if _, err := strconv.ParseFloat(s, 64); err == nil {
			return s // a negative number is a number
		}
		return "'" + s
	}
	return s
}
