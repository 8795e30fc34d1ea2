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
// Two backends, SQLite (one server process) and PostgreSQL (any number of replicas). SQL is
// written once with "?" placeholders and portable constructs (RETURNING, ON CONFLICT, integer
// times) and passed through a dialect that rebinds placeholders and supplies the few
// backend-specific pieces: DSN handling, migrations (migrations/sqlite and their twins in
// migrations/postgres), the table claims pick from and its lock clause, unique-violation and
// retryable-error detection, and cross-process wake-ups.
//
// On Postgres, concurrent replicas stay correct by the database: a claim locks its job row with
// FOR UPDATE SKIP LOCKED over pending_jobs, a small table of the queued jobs only; a transaction
// that decides from what it read locks that row (FOR UPDATE), always a job before its run, and
// guarded updates check the state they replace; a transaction aborted by a deadlock or a
// serialization failure runs again. Each commit NOTIFYs the topics it touched, and every
// replica's listener wakes its own waiters (see Watch).
//
// Times are stored as Unix nanoseconds (BIGINT) and returned in UTC. All "now" values come from
// the DB's clock (see WithClock), which is how tests move time without sleeping.
package store
