package server

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluice-ci/sluice/internal/metrics"
)

// doraCacheFor is how long a scrape's delivery figures are reused: they move with deployments,
// not by the second, and computing them reads the mirror.
const doraCacheFor = time.Minute

// doraCollector exports each repository's DORA keys, per environment, over the default window.
// Figures are computed when scraped (from the event log, like the page and the API), at most
// once a minute; a figure without data (no deployments yet) is left out rather than NaN.
type doraCollector struct {
	s *Server

	mu      sync.Mutex
	at      time.Time
	metrics []prometheus.Metric

	deployments, perDay, leadTime, failRate, recovery, rework *prometheus.Desc
}

func newDORACollector(s *Server) *doraCollector {
	labels := []string{"repo", "env"}
	quantiles := []string{"repo", "env", "quantile"}
	return &doraCollector{s: s,
		deployments: prometheus.NewDesc("sluice_deployments", "Successful promotions into the environment in the last 90 days.", labels, nil),
		perDay:      prometheus.NewDesc("sluice_deployments_per_day", "Successful promotions per day over the last 90 days.", labels, nil),
		leadTime: prometheus.NewDesc("sluice_change_lead_time_seconds",
			"Change lead time of the commits deployed in the last 90 days (quantile 0.5 and 0.9, nearest rank).", quantiles, nil),
		failRate: prometheus.NewDesc("sluice_change_fail_rate",
			"Share of change deployments in the last 90 days that were rolled back, failed or hotfixed within 24h.", labels, nil),
		recovery: prometheus.NewDesc("sluice_failed_deployment_recovery_seconds",
			"Time from a failed deployment to the environment's restoring deployment, last 90 days (quantile 0.5 and 0.9).", quantiles, nil),
		rework: prometheus.NewDesc("sluice_deployment_rework_rate",
			"Share of deployments in the last 90 days that were rollbacks, hotfixes or redeploys.", labels, nil),
	}
}

func (c *doraCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.deployments, c.perDay, c.leadTime, c.failRate, c.recovery, c.rework} {
		ch <- d
	}
}

func (c *doraCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.metrics == nil || time.Since(c.at) > doraCacheFor {
		ctx, cancel := context.WithTimeout(context.Background(), metricsTimeout)
		c.metrics = c.compute(ctx)
		cancel()
		c.at = time.Now()
	}
	for _, m := range c.metrics {
		ch <- m
	}
}

func (c *doraCollector) compute(ctx context.Context) []prometheus.Metric {
	db := c.s.cfg.DB
	repos, err := db.ListRepos(ctx)
	if err != nil {
		c.s.cfg.Log.Warn("metrics: listing repositories", "err", err)
		return nil
	}
	var out []prometheus.Metric
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		out = append(out, prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...))
	}
	now := time.Now()
	for i := range repos {
		repo := &repos[i]
		envs, err := db.ListEnvironments(ctx, repo.ID)
		if err != nil {
			c.s.cfg.Log.Warn("metrics: listing environments", "repo", repo.Name, "err", err)
			continue
		}
		for _, env := range envs {
			// Through the server's cache of facts, as the page and the API: what it read for them
			// (and the mirror's answers) is not read again for each scrape.
			rep, err := metrics.Compute(ctx, c.s.facts.With(db), metrics.Repo{ID: repo.ID, Name: repo.Name, URL: repo.URL,
				DefaultBranch: repo.DefaultBranch, GitDir: c.s.mirrorDir(repo.ID)},
				metrics.Options{Env: env.Name, Now: now, DORAOnly: true})
			if err != nil {
				c.s.cfg.Log.Warn("metrics: computing delivery figures", "repo", repo.Name, "env", env.Name, "err", err)
				continue
			}
			d, l := rep.DORA, []string{repo.Name, env.Name}
			gauge(c.deployments, float64(d.Frequency.Count), l...)
			gauge(c.perDay, d.Frequency.PerDay, l...)
			quantile := func(desc *prometheus.Desc, st metrics.Stats) {
				if st.Median != nil {
					gauge(desc, st.Median.Float(), repo.Name, env.Name, "0.5")
					gauge(desc, st.P90.Float(), repo.Name, env.Name, "0.9")
				}
			}
			quantile(c.leadTime, d.LeadTime.Stats)
			quantile(c.recovery, d.Recovery.Stats)
			if v := d.ChangeFailRate.Value; v != nil {
				gauge(c.failRate, *v, l...)
			}
			if v := d.Rework.Value; v != nil {
				gauge(c.rework, *v, l...)
			}
		}
	}
	return out
}
