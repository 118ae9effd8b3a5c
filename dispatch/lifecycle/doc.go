// Package lifecycle is the life of a warning: create, update, approve,
// reject, cancel, all-clear and expire (Service), recurring schedules and
// the leader that fires them (Scheduler), and CAP in and out: the mapping
// between a warning version and a CAP 1.2 document, import rules and the
// public feed.
//
// Every path that can put a warning on the air comes through here and
// through dispatch.Policy, with the actor who asked: the API, CAP import
// and polling, schedules and live voice. It must never send to a channel
// or write delivery records (the engine does), never serve HTTP, and never
// sign anything from bytes a cache or queue handed back. It stores through
// the store and hands issued versions to the engine; neither imports it.
package lifecycle
