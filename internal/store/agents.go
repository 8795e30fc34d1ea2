package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Agent is a machine (or the embedded agent) that runs jobs.
type Agent struct {
	ID        int64      `json:"id"`
	Name      string     `json:"name"`
	Labels    []string   `json:"labels"`
	TokenHash []byte     `json:"-"`
	Parallel  int        `json:"parallel"`
	LastSeen  *time.Time `json:"last_seen,omitempty"`
	Version   string     `json:"version"`
	CreatedAt time.Time  `json:"created_at"`
	// Draining: the agent takes no new job; the ones it runs finish (sluice agent drain).
	Draining bool `json:"draining"`
}

const agentCols = `id, name, labels, token_hash, parallel, last_seen, version, created_at, draining`

func scanAgent(s scanner) (*Agent, error) {
	var a Agent
	var labels string
	var seen sql.NullInt64
	var created int64
	var draining int
	if err := s.Scan(&a.ID, &a.Name, &labels, &a.TokenHash, &a.Parallel, &seen, &a.Version, &created, &draining); err != nil {
		return nil, err
	}
	a.Draining = draining != 0
	if err := fromJSONText(labels, &a.Labels); err != nil {
		return nil, err
	}
	a.LastSeen, a.CreatedAt = fromNullTS(seen), fromTS(created)
	return &a, nil
}

// RegisterAgent creates agent a, or, when an agent of that name exists, replaces its labels,
// token hash, parallelism and version (an agent restarting with new settings). LastSeen is now.
func (db *DB) RegisterAgent(ctx context.Context, a Agent) (*Agent, error) {
	var out *Agent
	err := db.write(ctx, "registering agent "+a.Name, func(t *tx) error {
		if a.Parallel <= 0 {
			a.Parallel = 1
		}
		labels, err := jsonText(a.Labels)
		if err != nil {
			return err
		}
		out, err = scanAgent(t.queryRow(ctx, `INSERT INTO agents (name, labels, token_hash, parallel, last_seen, version, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET labels = excluded.labels, token_hash = excluded.token_hash,
			parallel = excluded.parallel, last_seen = excluded.last_seen, version = excluded.version
			RETURNING `+agentCols, a.Name, labels, a.TokenHash, a.Parallel, ts(t.now), a.Version, ts(t.now)))
		if err != nil {
			return db.conflict(err, "agent token")
		}
		t.touch(TopicQueue) // new capacity, or new labels, may make queued jobs claimable
		return t.event(ctx, EventAgentRegistered, ids{}, map[string]any{
			"agent_id": out.ID, "name": out.Name, "labels": out.Labels, "parallel": out.Parallel, "version": out.Version,
		})
	})
	return out, err
}

// GetAgent returns agent id.
func (db *DB) GetAgent(ctx context.Context, id int64) (*Agent, error) {
	a, err := scanAgent(db.rd().queryRow(ctx, `SELECT `+agentCols+` FROM agents WHERE id = ?`, id))
	return a, notFound(err, "agent", id)
}

// GetAgentByTokenHash returns the agent whose token hashes to hash.
func (db *DB) GetAgentByTokenHash(ctx context.Context, hash []byte) (*Agent, error) {
	a, err := scanAgent(db.rd().queryRow(ctx, `SELECT `+agentCols+` FROM agents WHERE token_hash = ?`, hash))
	return a, notFound(err, "agent with token", "(hash)")
}

// ListAgents returns all agents by name.
func (db *DB) ListAgents(ctx context.Context) ([]Agent, error) {
	return listAgents(ctx, db.rd())
}

func listAgents(ctx context.Context, q queryer) ([]Agent, error) {
	rows, err := q.query(ctx, `SELECT `+agentCols+` FROM agents ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("listing agents: %w", err)
	}
	defer rows.Close()
	var out []Agent
	for rows.Next() {
		a, err := scanAgent(rows)
		if err != nil {
			return nil, fmt.Errorf("reading agent: %w", err)
		}
		out = append(out, *a)
	}
	return out, rows.Err()
}

// TouchAgent records that agent id was seen now (a poll without a job). It writes no event.
func (db *DB) TouchAgent(ctx context.Context, id int64) error {
	return db.write(ctx, fmt.Sprintf("touching agent %d", id), func(t *tx) error {
		return t.touchAgent(ctx, id)
	})
}

func (t *tx) touchAgent(ctx context.Context, id int64) error {
	_, err := t.touchAgentDraining(ctx, id)
	return err
}

// touchAgentDraining records that agent id was seen now and reports whether it is draining.
func (t *tx) touchAgentDraining(ctx context.Context, id int64) (bool, error) {
	var draining int
	err := t.queryRow(ctx, `UPDATE agents SET last_seen = ? WHERE id = ? RETURNING draining`, ts(t.now), id).Scan(&draining)
	if err != nil {
		return false, notFound(err, "agent", id)
	}
	return draining != 0, nil
}

// SetAgentDraining drains agent id (it claims no new job; its running jobs finish) or, with
// draining false, lets it take work again. It writes agent.updated when the state changes.
func (db *DB) SetAgentDraining(ctx context.Context, id int64, draining bool) (*Agent, error) {
	var out *Agent
	err := db.write(ctx, fmt.Sprintf("setting agent %d draining=%v", id, draining), func(t *tx) error {
		var err error
		if out, err = scanAgent(t.queryRow(ctx, `SELECT `+agentCols+` FROM agents WHERE id = ?`+t.db.d.forUpdate(), id)); err != nil {
			return notFound(err, "agent", id)
		}
		if out.Draining == draining {
			return nil
		}
		if _, err := t.exec(ctx, `UPDATE agents SET draining = ? WHERE id = ?`, boolInt(draining), id); err != nil {
			return err
		}
		out.Draining = draining
		t.touch(TopicQueue) // capacity changed
		return t.event(ctx, EventAgentUpdated, ids{}, map[string]any{"agent_id": id, "name": out.Name, "draining": draining})
	})
	return out, err
}

// DeleteAgent removes agent id. Jobs it holds keep running until their leases expire.
func (db *DB) DeleteAgent(ctx context.Context, id int64) error {
	return db.write(ctx, fmt.Sprintf("deleting agent %d", id), func(t *tx) error {
		var name string
		if err := t.queryRow(ctx, `DELETE FROM agents WHERE id = ? RETURNING name`, id).Scan(&name); err != nil {
			return notFound(err, "agent", id)
		}
		return t.event(ctx, EventAgentDeleted, ids{}, map[string]any{"agent_id": id, "name": name})
	})
}
