// Package cd is sluice's continuous-deployment model: environments declared as code
// (.sluice/environments.yml and its strategy presets), releases (immutable sets of artifact
// digests), promotions (one release into one environment) with their state machine, the gates a
// promotion must pass, rollback target selection and a per-environment lock.
//
// It is a pure library: no HTTP, no database, no clock of its own. Callers pass "now" and the
// history they hold, and persist the types, which all encode as JSON.
package cd
