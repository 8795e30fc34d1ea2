// Package store keeps the server's records (repositories, runs, jobs, steps, logs, agents,
// secrets, tokens, webhook deliveries), its append-only event log and its job queue.
//
// The database is the queue (DESIGN.md §2 rule 3): a job is claimed by a guarded UPDATE and
// leased to one agent until a deadline that heartbeats extend; a lease that runs out is recorded
// as an "agent lost" completion and, when asked, a new attempt row — never a silent re-run.
//
// Every state change writes its event row in the same transaction as the change (rule 4).
// Heartbeats and log appends are not state changes and write no event; they still wake waiters.
//
// SQLite is the first backend. SQL is written with "?" placeholders and portable constructs
// (RETURNING, ON CONFLICT DO NOTHING, integer times) and passed through a dialect that rebinds
// placeholders and supplies the few backend-specific pieces (DSN handling, the claim lock clause,
// unique-violation detection, migrations), so a Postgres dialect can follow.
//
// Times are stored as Unix nanoseconds (BIGINT) and returned in UTC. All "now" values come from
// the DB's clock (see WithClock), which is how tests move time without sleeping.
package store
