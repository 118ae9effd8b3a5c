// Package dispatch is the warning domain of Alertcast: what a graded warning
// is (Alert, AlertInput and its validation, Area, Audience, AimOf), who acts
// (Actor, Role), the one approval policy every path to the air goes through
// (Policy, Decide, Changes), the schedule record, the progress model
// (ProgressOf), and, until it moves to its own package, the SQLite and
// PostgreSQL store with the audit chain.
//
// The stages live below it and import it, never the other way round:
// dispatch/lifecycle (create, approve, update, cancel, schedules, CAP in
// and out), dispatch/engine (relay, Asynq tasks, planning, sending,
// receipts) and dispatch/api (HTTP). The root must never import them, nor
// Asynq, nor serve HTTP. It is the only package that knows what a warning
// is; channels, targeting and audio see only messages, aims and programmes
// and never import dispatch.
package dispatch
