// Package websocket is the WebSocket channel: it puts warnings on every open
// resident page, village dashboard and command-centre console within a
// fraction of a second, and shows the warnings already active to whoever
// connects later.
//
// A Hub is a channels.Channel. dispatch calls Send once per warning version;
// the hub appends the public event to a bounded Redis stream (the history
// every node reads and every client can resume from) and keeps the set of
// active warnings in Redis, so any number of alertd nodes deliver it to their
// own subscribers. The fan-out itself is local to each node.
//
// Subscribers connect over WebSocket (Handler, mounted at /ws) or, where a
// network blocks WebSocket, Server-Sent Events (SSEHandler, /sse). Both use
// the same subscription model: region codes (a village sees warnings aimed at
// it, its township or the county; a township dashboard sees everything inside
// the township), a language and a minimum level. Consoles authenticate with a
// token and also receive delivery progress (PublishProgress). PageHandler
// serves the resident page (/r/653122100001?lang=ug): plain HTML, CSS and
// JavaScript, embedded, no build step. When a live warning over a village
// asks an action, the page fetches GET /r/{village}/guidance (public JSON:
// that village's guidance only, in the SMS's words for zh and ug, the
// village and shelter points, direction, distance, the shelter's capacity
// and reported occupancy; never a keeper's contact) from Config.Guidance
// and draws it with a small offline north-up SVG map.
//
// Wire protocol (JSON text frames; the same objects are SSE data lines):
//
//	client → server  {"type":"subscribe","regions":["653122100001"],"lang":"ug","min_level":1,"last_id":"…","progress":false}
//	server → client  {"type":"subscribed",…}
//	                 {"type":"snapshot","id":"…","reset":false,"warnings":[…]}   the current state
//	                 {"type":"warning","id":"…",…}                                a new, updated or lifted warning
//	                 {"type":"resumed","id":"…","missed":3}                      after last_id, missed events replayed
//	                 {"type":"progress","alert_id":"…","progress":{…}}          consoles only
//	                 {"type":"error","code":"bad_frame","field":"regions","message":"…"}
//
// Every warning event carries an id (the Redis stream id). A client that
// reconnects with the last id it saw gets exactly what it missed, or, when the
// gap is older than the bounded history, a snapshot with "reset":true ("history
// lost, here is the current state").
//
// Close codes: 4001 too slow (reconnect with last_id), 4002 too many bad
// frames, 1012 server restart (reconnect with last_id), 1009 frame too big,
// 1008 policy (origin, limits).
//
// Fan-out: subscribers are grouped by the regions they follow, and the hub
// asks Coverage (declared here, served by targeting) once per group whether
// a warning's area covers it. Each matching connection gets the frame,
// encoded once per language, with one non-blocking write; only sockets that
// are full go to a writer goroutine (subscriber.go, wire.go).
//
// The package never decides retries, never stores deliveries, never holds
// the region tree and never knows what a warning is beyond the rendered
// channels.Message.
package websocket
