// Package api serves Alertcast's HTTP API (/api/v1): routes, authentication
// (bearer tokens and console sessions), the login throttle and its audit,
// request ids, trusted proxies, rate limits and the OpenAPI document
// (openapi.yaml, embedded and served as is).
//
// It owns the HTTP face of the warning system and nothing behind it: every
// change to a warning goes through the lifecycle service, so the approval
// policy decides on it exactly as for CAP, schedules and voice. It must
// never write warnings or deliveries to the store itself, never plan or
// enqueue tasks, and never put a Go error in a response (a 500 carries a
// request id). Nothing below it imports it.
package api
