// Package engine turns an issued warning version into deliveries: the relay
// (transactional outbox) that enqueues a plan task for every version stored
// for dispatch, the Asynq task types and queues, planning (the audience per
// channel, written as delivery records), batching, the send handler that
// hands a rendered message and its recipients to a channel and decides
// retry or give-up from the channel's error, and the intake of receipts.
// It also reads a version's progress back from what it recorded.
//
// It must never decide whether a warning may go on the air (the lifecycle
// service and dispatch.Policy do, before a version is stored for dispatch),
// never serve HTTP, and never let a channel see the warning itself: a
// channel gets a channels.Message and recipients, nothing more. Nothing it
// calls imports it back.
package engine
