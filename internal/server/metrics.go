package server

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sluice-ci/sluice/internal/store"
)

// serverMetrics is computed from the store when scraped: gauges are read
// afresh and the duration histogram is fed from the job.completed events
// written since the last scrape, so restarts lose nothing and nothing in the
// hot paths has to remember to count.
// metricsStore is what the Prometheus gauges and counters are read from at each scrape.
type metricsStore interface {
	PendingJobs(ctx context.Context) ([]store.PendingJob, error)
	QueueByLabels(ctx context.Context) ([]store.LabelQueue, error)
	ListAgents(ctx context.Context) ([]store.Agent, error)
	ListEvents(ctx context.Context, f store.EventFilter) ([]store.Event, error)
	GetJob(ctx context.Context, id int64) (*store.Job, error)
}

type serverMetrics struct {
	db metricsStore

	mu         sync.Mutex // one refresh at a time; guards lastEvent
	lastEvent  int64
	queueDepth prometheus.Gauge
	waiting    prometheus.Gauge
	running    prometheus.Gauge
	online     prometheus.Gauge
	agents     prometheus.Gauge
	duration   *prometheus.HistogramVec
	byLabels   *prometheus.GaugeVec
	freeSlots  *prometheus.GaugeVec
}

func newServerMetrics(db metricsStore, reg *prometheus.Registry) *serverMetrics {
	m := &serverMetrics{
		db: db,
		queueDepth: prometheus.NewGauge(prometheus.GaugeOpts{Name: "sluice_queue_depth",
			Help: "Jobs queued and waiting for an agent to claim them."}),
		waiting: prometheus.NewGauge(prometheus.GaugeOpts{Name: "sluice_jobs_waiting",
			Help: "Jobs waiting for the jobs they need."}),
		running: prometheus.NewGauge(prometheus.GaugeOpts{Name: "sluice_jobs_running",
			Help: "Jobs in progress on agents."}),
		online: prometheus.NewGauge(prometheus.GaugeOpts{Name: "sluice_agents_online",
			Help: "Agents seen within the last minute."}),
		agents: prometheus.NewGauge(prometheus.GaugeOpts{Name: "sluice_agents_registered",
			Help: "Agents registered with the server."}),
		byLabels: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sluice_queue_jobs",
			Help: "Jobs queued for an agent, by runs-on label set (comma-separated)."}, []string{"labels"}),
		freeSlots: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sluice_queue_free_slots",
			Help: "Free slots of online, not draining agents matching a label set that has queued or running jobs."}, []string{"labels"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "sluice_job_duration_seconds",
			Help:    "Time from a job's start to its completion, by conclusion.",
			Buckets: []float64{1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200}}, []string{"conclusion"}),
	}
	reg.MustRegister(m.queueDepth, m.waiting, m.running, m.online, m.agents, m.duration, m.byLabels, m.freeSlots)
	return m
}

func (m *serverMetrics) refresh(ctx context.Context, s *Server) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	pending, err := m.db.PendingJobs(ctx)
	if err != nil {
		return err
	}
	var queued, waiting int
	for _, p := range pending {
		if p.Job.Status == store.StatusQueued {
			queued++
		} else {
			waiting++
		}
	}
	m.queueDepth.Set(float64(queued))
	m.waiting.Set(float64(waiting))
	byLabels, err := m.db.QueueByLabels(ctx)
	if err != nil {
		return err
	}
	m.byLabels.Reset()
	m.freeSlots.Reset()
	for _, q := range byLabels {
		l := strings.Join(q.Labels, ",")
		m.byLabels.WithLabelValues(l).Set(float64(q.Queued))
		m.freeSlots.WithLabelValues(l).Set(float64(q.FreeSlots))
	}
	running, _, err := s.runningJobs(ctx)
	if err != nil {
		return err
	}
	m.running.Set(float64(len(running)))
	agents, err := m.db.ListAgents(ctx)
	if err != nil {
		return err
	}
	online := 0
	now := time.Now()
	for _, a := range agents {
		if a.LastSeen != nil && now.Sub(*a.LastSeen) <= agentOnlineWindow {
			online++
		}
	}
	m.online.Set(float64(online))
	m.agents.Set(float64(len(agents)))
	return m.observeCompleted(ctx)
}

// observeCompleted feeds the histogram with the jobs completed since the
// last scrape. Jobs that never started (cancelled or skipped while
// waiting) have no duration.
func (m *serverMetrics) observeCompleted(ctx context.Context) error {
	for {
		evs, err := m.db.ListEvents(ctx, store.EventFilter{Kinds: []string{store.EventJobCompleted}, After: m.lastEvent, Limit: 1000})
		if err != nil {
			return err
		}
		for _, ev := range evs {
			m.lastEvent = ev.ID
			if ev.JobID == nil {
				continue
			}
			j, err := m.db.GetJob(ctx, *ev.JobID)
			if err != nil {
				continue // deleted with its repository
			}
			if j.StartedAt == nil || j.FinishedAt == nil {
				continue
			}
			m.duration.WithLabelValues(j.Conclusion).Observe(j.FinishedAt.Sub(*j.StartedAt).Seconds())
		}
		if len(evs) < 1000 {
			return nil
		}
	}
}

// metricsHandler serves /metrics in the Prometheus text format.
func (s *Server) metricsHandler() http.Handler {
	reg := prometheus.NewRegistry()
	m := newServerMetrics(s.cfg.DB, reg)
	reg.MustRegister(newDORACollector(s))
	inner := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := m.refresh(r.Context(), s); err != nil {
			s.cfg.Log.Error("metrics: reading the store", "err", err)
			http.Error(w, fmt.Sprintf("reading the store: %v", err), http.StatusInternalServerError)
			return
		}
		inner.ServeHTTP(w, r)
	})
}
