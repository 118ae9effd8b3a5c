package voice

// Voice across nodes (issue 16): a field team or a loudspeaker connected to
// any API node joins a live room or call held on another, with no sticky
// routing on the load balancer.
//
// The design is "signalling relayed, media direct" (what SFUs commonly do):
//
//   - A room lives on the node whose session opened it (the officer's). Its
//     owner is recorded in Redis (HASH <prefix>rooms, room → node), and
//     every node holds a lease (<prefix>node:<id>, PX Lease, renewed every
//     Lease/3).
//   - A session on node A that names a room A does not hold has its frames
//     relayed, unchanged, over Redis pub/sub to the owner B. B runs them
//     through the very same code as a local client's (a "remote session":
//     the same handle, mayJoin, publish rules, the same room limits), and
//     what B sends that client goes back over pub/sub to A's WebSocket.
//     Authorisation is therefore decided once, on the node that owns the
//     room; A only authenticates (a console ticket is one-use, so it can be
//     redeemed only where the socket is).
//   - Media does not pass through A: B's offers and answers carry B's own
//     ICE candidates, so the client's peer connection goes straight to B.
//     Every API node's voice UDP port (udp_port_min..max or the mux port)
//     must therefore be reachable by clients, as for one node; TURN, when
//     configured, relays for clients behind NAT as before.
//
// Why not relay media through A (a server-to-server peer connection per
// room)? It doubles the SFU's packet work for every relayed listener, adds a
// hop of latency and jitter to the one path where people hear each other,
// and needs its own authentication between nodes; signalling is a few
// frames per join, media is 50 packets a second per listener. Measured on
// this machine (BENCHMARKS.md, voice): one SFU core forwards to a few
// thousand listeners, so a second forwarding hop would halve that.
//
// Trust. A relayed frame claims who sent it (user, role) and is believed by
// the owner, so every envelope carries an HMAC-SHA256 under a key all nodes
// share (alertd derives it from the platform's loudspeaker signing key,
// which every node already holds: whoever has it can put anything on the air
// anyway). Redis alone — its password, or a snapshot of its traffic — is not
// enough to forge a frame. Each envelope has a sequence number per
// (sender, session) and a send time; a replayed or stale envelope (older
// than 30 s) is dropped. A loudspeaker's room token never crosses Redis:
// the registry and the envelopes carry its SHA-256, and the owner checks it
// against the token it minted.
//
// Failure. When a node's lease lapses (crash, partition), the others: end
// the rooms it held for their own clients (room_ended, reason
// "node_lost: <node>"), drop their remote sessions from it, and one of them
// (the one whose HDEL wins) writes the voice.live.end audit record of each
// live room it held, from the start record kept in the registry. A node
// that finds its own lease gone (it stalled past the lease) ends its rooms
// too (reason "node_lease_lost"): the others have already told their
// clients the room is over.

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/alertcast/alertcast/channels/voice/wire"
	"github.com/alertcast/alertcast/warning"
)

// ClusterConfig makes voice servers of several nodes on one Redis act as
// one: any node's clients reach any node's rooms. Nil Config.Cluster is one
// node on its own, as before.
type ClusterConfig struct {
	// Redis is shared by every node (Sentinel clients work: pub/sub
	// resubscribes after a failover).
	Redis redis.UniversalClient
	// Node names this node; unique per process. Default: a random id.
	Node string
	// Secret authenticates the relayed frames; at least 32 bytes, the same
	// on every node. Required.
	Secret []byte
	// Lease is how long a node stays in the registry without renewing it
	// (every Lease/3). A crashed node's rooms end for the others' clients
	// within Lease + Lease/3. Default 6 s.
	Lease time.Duration
	// Prefix of the Redis keys and channels. Default "alertcast:voice:".
	Prefix string
}

// maxEnvelopeAge bounds how old a relayed envelope may be (clock skew
// between nodes plus Redis delay).
const maxEnvelopeAge = 30 * time.Second

// Envelope kinds.
const (
	envFrame     = "frame"     // client frame, session holder → room owner
	envGone      = "gone"      // the client's socket closed (holder → owner), or no such session (owner ← holder)
	envOut       = "out"       // server frame for a client, owner → holder
	envUser      = "user"      // a frame for every field session of one user, to all nodes
	envField     = "field"     // a frame for every field session, to all nodes
	envApprovers = "approvers" // a live request's state, for every approver, to all nodes
)

// envelope is one relayed message. Frame is the frame as JSON, parsed
// again (ParseFrame) by the owner.
type envelope struct {
	Kind      string          `json:"kind"`
	From      string          `json:"from"`
	Seq       uint64          `json:"seq"`
	Sent      int64           `json:"sent"` // unix ms
	SID       string          `json:"sid,omitempty"`
	User      string          `json:"user,omitempty"`
	Role      string          `json:"role,omitempty"`
	TokenHash string          `json:"token_hash,omitempty"` // a loudspeaker's room token, hashed
	To        string          `json:"to,omitempty"`         // envUser: the field user
	Frame     json.RawMessage `json:"frame,omitempty"`
}

// roomRecord is a room's entry in the registry.
type roomRecord struct {
	Node      string `json:"node"`
	Kind      string `json:"kind"`
	TokenHash string `json:"token_hash,omitempty"`
	// Start is a live room's start record: whoever finds the owner dead
	// writes the matching end record from it.
	Start *LiveAudit `json:"start,omitempty"`
}

type cluster struct {
	s    *Server
	rdb  redis.UniversalClient
	node string
	key  []byte
	pfx  string

	lease time.Duration
	seq   atomic.Uint64
	ps    *redis.PubSub
	stop  chan struct{}
	wg    sync.WaitGroup
	beats atomic.Bool // the lease has been taken once

	mu      sync.Mutex
	remotes map[string]*session // "node/sid" → remote session held here
	local   map[string]*session // sid → local session (sockets on this node)
	lastIn  map[string]uint64   // "node/sid" → last sequence number accepted
	frozen  bool                // tests: stop renewing the lease (a crashed node)
}

func tokenHash(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:])
}

// newCluster validates the configuration; start brings the node online.
func newCluster(s *Server, cfg *ClusterConfig) (*cluster, error) {
	if cfg.Redis == nil {
		return nil, &warning.FieldError{Field: "Cluster.Redis", Rule: "required"}
	}
	if len(cfg.Secret) < 32 {
		return nil, &warning.FieldError{Field: "Cluster.Secret", Rule: "at least 32 bytes, the same on every node"}
	}
	if cfg.Node == "" {
		cfg.Node = randomID("voice-", 6)
	}
	if !idPattern.MatchString(cfg.Node) || strings.Contains(cfg.Node, "/") {
		return nil, &warning.FieldError{Field: "Cluster.Node", Rule: "1-128 letters, digits or ._:@-", Value: cfg.Node}
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 6 * time.Second
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "alertcast:voice:"
	}
	mac := hmac.New(sha256.New, cfg.Secret)
	mac.Write([]byte("alertcast voice relay v1"))
	return &cluster{s: s, rdb: cfg.Redis, node: cfg.Node, key: mac.Sum(nil), pfx: cfg.Prefix, lease: cfg.Lease,
		stop: make(chan struct{}), remotes: map[string]*session{}, local: map[string]*session{}, lastIn: map[string]uint64{}}, nil
}

func (c *cluster) nodeKey(n string) string  { return c.pfx + "node:" + n }
func (c *cluster) fieldKey(n string) string { return c.pfx + "field:" + n }
func (c *cluster) busKey(n string) string   { return c.pfx + "bus:" + n }
func (c *cluster) roomsKey() string         { return c.pfx + "rooms" }
func (c *cluster) tokensKey() string        { return c.pfx + "tokens" }
func (c *cluster) requestsKey() string      { return c.pfx + "requests" }
func (c *cluster) nodesKey() string         { return c.pfx + "nodes" }
func (c *cluster) busAll() string           { return c.pfx + "bus" }

// start subscribes, takes the lease and starts the heartbeat: when it
// returns, other nodes can reach this one.
func (c *cluster) start(ctx context.Context) error {
	c.ps = c.rdb.Subscribe(ctx, c.busKey(c.node), c.busAll())
	if _, err := c.ps.Receive(ctx); err != nil {
		_ = c.ps.Close()
		return fmt.Errorf("voice cluster: subscribe: %w", err)
	}
	if err := c.beat(ctx); err != nil {
		_ = c.ps.Close()
		return fmt.Errorf("voice cluster: lease: %w", err)
	}
	ch := c.ps.Channel(redis.WithChannelSize(1024))
	c.wg.Add(2)
	go func() {
		defer c.wg.Done()
		for {
			select {
			case <-c.stop:
				return
			case m, ok := <-ch:
				if !ok {
					return
				}
				c.receive(m.Payload)
			}
		}
	}()
	go func() {
		defer c.wg.Done()
		t := time.NewTicker(c.lease / 3)
		defer t.Stop()
		for {
			select {
			case <-c.stop:
				return
			case <-t.C:
				ctx, cancel := context.WithTimeout(context.Background(), c.lease/3)
				if err := c.beat(ctx); err != nil {
					c.s.log.Warn("voice cluster: heartbeat failed", "node", c.node, "err", err)
				}
				cancel()
			}
		}
	}()
	return nil
}

// shutdown stops the loops (before the server ends its rooms: no new
// remote sessions); leave removes the node afterwards.
func (c *cluster) shutdown() {
	close(c.stop)
	_ = c.ps.Close()
	c.wg.Wait()
}

func (c *cluster) leave() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	pipe := c.rdb.TxPipeline()
	pipe.Del(ctx, c.nodeKey(c.node), c.fieldKey(c.node))
	pipe.SRem(ctx, c.nodesKey(), c.node)
	_, _ = pipe.Exec(ctx)
}

// nextSeq is unique and increasing for this node, across restarts of a
// session (nanoseconds, or one more than the last).
func (c *cluster) nextSeq() uint64 {
	for {
		last := c.seq.Load()
		n := max(last+1, uint64(time.Now().UnixNano()))
		if c.seq.CompareAndSwap(last, n) {
			return n
		}
	}
}

func (c *cluster) publish(ctx context.Context, to string, e *envelope) error {
	e.From, e.Sent, e.Seq = c.node, time.Now().UnixMilli(), c.nextSeq()
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	mac := hmac.New(sha256.New, c.key)
	mac.Write(b)
	msg := hex.EncodeToString(mac.Sum(nil)) + " " + string(b)
	if err := c.rdb.Publish(ctx, to, msg).Err(); err != nil {
		return fmt.Errorf("voice relay: %w", err)
	}
	c.s.met.relayed.WithLabelValues("out").Inc()
	return nil
}

// open checks an envelope's MAC and age.
func (c *cluster) open(msg string) (*envelope, error) {
	sum, body, ok := strings.Cut(msg, " ")
	if !ok {
		return nil, errors.New("no MAC")
	}
	got, err := hex.DecodeString(sum)
	if err != nil {
		return nil, errors.New("bad MAC encoding")
	}
	mac := hmac.New(sha256.New, c.key)
	mac.Write([]byte(body))
	if !hmac.Equal(got, mac.Sum(nil)) {
		return nil, errors.New("MAC does not verify (another cluster secret, or forged)")
	}
	var e envelope
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}
	if age := time.Since(time.UnixMilli(e.Sent)); age > maxEnvelopeAge || age < -maxEnvelopeAge {
		return nil, fmt.Errorf("envelope sent %s ago (more than %s: stale or replayed)", age.Round(time.Millisecond), maxEnvelopeAge)
	}
	return &e, nil
}

// fresh records (from, sid)'s sequence number; false for a replay.
func (c *cluster) fresh(e *envelope) bool {
	k := e.From + "/" + e.SID
	c.mu.Lock()
	defer c.mu.Unlock()
	if e.Seq <= c.lastIn[k] {
		return false
	}
	c.lastIn[k] = e.Seq
	return true
}

func (c *cluster) receive(msg string) {
	s := c.s
	e, err := c.open(msg)
	if err != nil {
		s.met.relayed.WithLabelValues("refused").Inc()
		s.log.Warn("voice relay: envelope refused", "err", err)
		return
	}
	if e.From == c.node {
		return // our own broadcast
	}
	s.met.relayed.WithLabelValues("in").Inc()
	switch e.Kind {
	case envFrame:
		if c.fresh(e) {
			c.fromHolder(e)
		}
	case envGone:
		if !c.fresh(e) {
			return
		}
		c.mu.Lock()
		rs := c.remotes[e.From+"/"+e.SID]
		c.mu.Unlock()
		if rs != nil {
			rs.close()
		}
	case envOut:
		if c.fresh(e) {
			c.toHolder(e)
		}
	case envUser, envField:
		for _, ss := range s.fieldSessionsOf(e.To) {
			ss.sendRaw(e.Frame)
		}
	case envApprovers:
		for _, ss := range s.approvers() {
			ss.sendRaw(e.Frame)
		}
	}
}

// fromHolder runs a relayed client frame on the remote session standing
// for that client here (created on its first frame).
func (c *cluster) fromHolder(e *envelope) {
	k := e.From + "/" + e.SID
	f, err := ParseFrame(e.Frame)
	if err == nil && !relayable(f.Type) {
		err = fmt.Errorf("%s frames are not relayed between nodes", f.Type)
	}
	if err != nil {
		c.reply(e, &wire.Frame{Type: wire.TypeError, Code: "bad_frame", Message: err.Error()})
		return
	}
	c.mu.Lock()
	rs := c.remotes[k]
	c.mu.Unlock()
	if rs == nil {
		if rs, err = c.newRemote(e); err != nil {
			c.reply(e, &wire.Frame{Type: wire.TypeError, ID: f.ID, Room: f.Room, Code: "unauthorized", Message: err.Error()})
			return
		}
		if rs == nil {
			return // closing
		}
	}
	select {
	case rs.in <- f:
	default:
		s := c.s
		s.log.Warn("voice relay: remote client too fast, closing", "node", e.From, "user", rs.user)
		rs.close()
	}
}

// reply sends one frame back to a client that has no remote session here.
func (c *cluster) reply(e *envelope, f *wire.Frame) {
	b, _ := json.Marshal(f)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = c.publish(ctx, c.busKey(e.From), &envelope{Kind: envOut, SID: e.SID, Frame: b})
}

// relayable lists the frames that name a room and go to its owner.
func relayable(t string) bool {
	switch t {
	case wire.TypeJoin, wire.TypeOffer, wire.TypeAnswer, wire.TypeCandidate, wire.TypeMute, wire.TypeLeave, wire.TypeEnd,
		wire.TypeApprove, wire.TypeDeny: // approve/deny go to the requester's node, by request id
		return true
	}
	return false
}

// newRemote admits a client of another node, under the rules a local
// client meets at the door: a loudspeaker only with the token of a room
// held here, everyone else with one of the voice roles. This is the one
// place a remote client's identity is built: whatever a local session gets
// at authentication (user, role — and any scope added later) must travel in
// the envelope (holderRelays/relay fill it) and be set here, or the owner
// judges the remote client by less than a local one.
func (c *cluster) newRemote(e *envelope) (*session, error) {
	s := c.s
	ss := &session{s: s, out: make(chan []byte, outQueue), closed: make(chan struct{}), rooms: map[string]*member{},
		via: e.From, sid: e.SID, in: make(chan *wire.Frame, 64)}
	if e.TokenHash != "" {
		r := s.roomByTokenHash(e.TokenHash)
		if r == nil {
			s.met.authFailures.Inc()
			return nil, fmt.Errorf("%w: the room token is not valid here (room ended?)", ErrUnauthorized)
		}
		ss.user, ss.role, ss.scope = "speaker:"+r.id, RoleSpeaker, r
	} else {
		switch e.Role {
		case RoleOfficer, RoleApprover, RoleAdmin, RoleField:
		default:
			s.met.authFailures.Inc()
			return nil, fmt.Errorf("role %q may not use voice", e.Role)
		}
		if !idPattern.MatchString(e.User) && !strings.HasPrefix(e.User, "speaker:") {
			return nil, fmt.Errorf("%w: user %q", ErrUnauthorized, e.User)
		}
		ss.user, ss.role = e.User, e.Role
	}
	k := e.From + "/" + e.SID
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, nil
	}
	s.wg.Add(2)
	s.mu.Unlock()
	c.mu.Lock()
	c.remotes[k] = ss
	c.mu.Unlock()
	s.met.remoteSessions.Inc()
	go func() {
		defer s.wg.Done()
		c.pump(ss)
	}()
	go func() {
		defer s.wg.Done()
		defer func() {
			ss.teardown()
			ss.close()
			c.mu.Lock()
			delete(c.remotes, k)
			c.mu.Unlock()
			s.met.remoteSessions.Dec()
		}()
		for {
			select {
			case <-ss.closed:
				return
			case f := <-ss.in:
				ss.handle(f)
			}
		}
	}()
	return ss, nil
}

// pump carries what the server sends a remote session back to its node,
// in order; after close it flushes what is queued (the room_ended that
// says why).
func (c *cluster) pump(ss *session) {
	send := func(b []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), writeWait)
		defer cancel()
		if err := c.publish(ctx, c.busKey(ss.via), &envelope{Kind: envOut, SID: ss.sid, Frame: b}); err != nil {
			c.s.log.Warn("voice relay: frame not sent back", "node", ss.via, "user", ss.user, "err", err)
		}
	}
	for {
		select {
		case b := <-ss.out:
			send(b)
		case <-ss.closed:
			for {
				select {
				case b := <-ss.out:
					send(b)
				default:
					return
				}
			}
		}
	}
}

// toHolder hands a frame from a room's owner to the local client.
func (c *cluster) toHolder(e *envelope) {
	c.mu.Lock()
	ss := c.local[e.SID]
	c.mu.Unlock()
	if ss == nil {
		// The client is gone: the owner must drop its remote session.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = c.publish(ctx, c.busKey(e.From), &envelope{Kind: envGone, SID: e.SID})
		return
	}
	var head struct{ Type, Room string }
	_ = json.Unmarshal(e.Frame, &head)
	if head.Type == wire.TypeRoomEnded && head.Room != "" {
		ss.mu.Lock()
		delete(ss.remote, head.Room)
		ss.mu.Unlock()
	}
	ss.sendRaw(e.Frame)
}

// holderRelays relays f when it names a room held by another node; false
// means the frame is handled here as before.
func (c *cluster) holderRelays(ss *session, f *wire.Frame) bool {
	if ss.via != "" || !relayable(f.Type) || f.Room == "" {
		return false
	}
	if ss.member(f.Room) != nil {
		return false
	}
	s := c.s
	s.mu.Lock()
	_, here := s.rooms[f.Room]
	s.mu.Unlock()
	if here {
		return false
	}
	if ss.role == RoleSpeaker && f.Room != ss.remoteScope {
		return false // a loudspeaker token admits to its own room only (refused here)
	}
	ss.mu.Lock()
	node := ss.remote[f.Room]
	ss.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if node == "" {
		if f.Type != wire.TypeJoin && f.Type != wire.TypeOffer && f.Type != wire.TypeEnd {
			return false // nothing to answer or trickle into a room never joined
		}
		var err error
		node, err = c.owner(ctx, f.Room)
		if err != nil {
			ss.sendErr(f.ID, f.Room, "relay_failed", err)
			return true
		}
		if node == "" {
			return false // no such room anywhere: refused here, as before
		}
		ss.mu.Lock()
		if ss.remote == nil {
			ss.remote = map[string]string{}
		}
		ss.remote[f.Room] = node
		ss.mu.Unlock()
	}
	ss.mu.Lock()
	if ss.relayedTo == nil {
		ss.relayedTo = map[string]bool{}
	}
	ss.relayedTo[node] = true // told when the socket closes, even after the room ended
	ss.mu.Unlock()
	c.relay(ctx, ss, node, f)
	return true
}

// relay publishes a client's frame to node, on behalf of ss.
func (c *cluster) relay(ctx context.Context, ss *session, node string, f *wire.Frame) {
	b, err := json.Marshal(f)
	if err != nil {
		return
	}
	e := &envelope{Kind: envFrame, SID: ss.sid, User: ss.user, Role: ss.role, TokenHash: ss.tokenHash, Frame: b}
	if err := c.publish(ctx, c.busKey(node), e); err != nil {
		ss.sendErr(f.ID, f.Room, "relay_failed", fmt.Errorf("node %s is unreachable: %w", node, err))
	}
}

// requestRecord is a pending live request's entry in the registry.
type requestRecord struct {
	Node    string      `json:"node"`
	Expires time.Time   `json:"expires"`
	Frame   *wire.Frame `json:"frame"` // as approvers see it
}

// requestOpened publishes a pending live request to the approvers of every
// node; requestClosed withdraws it.
func (c *cluster) requestOpened(q *liveRequest, f *wire.Frame) {
	b, _ := json.Marshal(requestRecord{Node: c.node, Expires: q.expires, Frame: f})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.rdb.HSet(ctx, c.requestsKey(), q.id, b).Err(); err != nil {
		c.s.log.Warn("voice cluster: live request not registered: approvers on other nodes cannot decide it", "request", q.id, "err", err)
	}
}

func (c *cluster) requestClosed(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c.rdb.HDel(ctx, c.requestsKey(), id)
}

// toApprovers shows a live request's state to the approvers of the other
// nodes.
func (c *cluster) toApprovers(f *wire.Frame) {
	b, _ := json.Marshal(f)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.publish(ctx, c.busAll(), &envelope{Kind: envApprovers, Frame: b}); err != nil {
		c.s.log.Warn("voice relay: approvers of other nodes not told", "request", f.Request, "err", err)
	}
}

// requestNode is the live node holding a pending request, "" when none.
func (c *cluster) requestNode(ctx context.Context, id string) string {
	raw, err := c.rdb.HGet(ctx, c.requestsKey(), id).Result()
	if err != nil {
		return ""
	}
	var rec requestRecord
	if json.Unmarshal([]byte(raw), &rec) != nil || rec.Node == c.node {
		return ""
	}
	if n, err := c.rdb.Exists(ctx, c.nodeKey(rec.Node)).Result(); err != nil || n == 0 {
		return ""
	}
	return rec.Node
}

// requestsElsewhere lists the requests pending on other nodes, as approver
// frames.
func (c *cluster) requestsElsewhere(ctx context.Context) []*wire.Frame {
	all, err := c.rdb.HGetAll(ctx, c.requestsKey()).Result()
	if err != nil {
		return nil
	}
	var out []*wire.Frame
	for _, raw := range all {
		var rec requestRecord
		if json.Unmarshal([]byte(raw), &rec) != nil || rec.Node == c.node || rec.Frame == nil || !time.Now().Before(rec.Expires) {
			continue
		}
		f := rec.Frame
		f.ExpiresIn = max(1, int(time.Until(rec.Expires).Round(time.Second)/time.Second))
		out = append(out, f)
	}
	return out
}

// owner is the live node holding room, "" when none does.
func (c *cluster) owner(ctx context.Context, room string) (string, error) {
	raw, err := c.rdb.HGet(ctx, c.roomsKey(), room).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("room registry: %w", err)
	}
	var rec roomRecord
	if json.Unmarshal([]byte(raw), &rec) != nil || rec.Node == c.node {
		return "", nil
	}
	n, err := c.rdb.Exists(ctx, c.nodeKey(rec.Node)).Result()
	if err != nil {
		return "", fmt.Errorf("node registry: %w", err)
	}
	if n == 0 {
		return "", nil // its node is gone; the sweep ends it
	}
	return rec.Node, nil
}

// tokenRoom finds the room a loudspeaker's token admits to, on another
// node.
func (c *cluster) tokenRoom(tok string) (room, node, hash string, ok bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	hash = tokenHash(tok)
	room, err := c.rdb.HGet(ctx, c.tokensKey(), hash).Result()
	if err != nil {
		return "", "", "", false
	}
	node, err = c.owner(ctx, room)
	if err != nil || node == "" {
		return "", "", "", false
	}
	return room, node, hash, true
}

// roomOpened records a live room or call held here.
func (c *cluster) roomOpened(r *room, start *LiveAudit) {
	if r.kind == wire.KindRing {
		return
	}
	rec := roomRecord{Node: c.node, Kind: r.kind}
	if r.token != "" {
		rec.TokenHash = tokenHash(r.token)
	}
	if start != nil {
		rec.Start = start
	}
	b, _ := json.Marshal(rec)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	pipe := c.rdb.TxPipeline()
	pipe.HSet(ctx, c.roomsKey(), r.id, b)
	if rec.TokenHash != "" {
		pipe.HSet(ctx, c.tokensKey(), rec.TokenHash, r.id)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		c.s.log.Warn("voice cluster: room not registered: clients of other nodes cannot join it", "room", r.id, "err", err)
	}
}

func (c *cluster) roomClosed(r *room) {
	if r.kind == wire.KindRing {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	pipe := c.rdb.TxPipeline()
	pipe.HDel(ctx, c.roomsKey(), r.id)
	if r.token != "" {
		pipe.HDel(ctx, c.tokensKey(), tokenHash(r.token))
	}
	_, _ = pipe.Exec(ctx)
}

// toUser shows f to a field user's sessions on the other nodes.
func (c *cluster) toUser(user string, f *wire.Frame) {
	b, _ := json.Marshal(f)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	kind := envUser
	if user == "" {
		kind = envField
	}
	if err := c.publish(ctx, c.busAll(), &envelope{Kind: kind, To: user, Frame: b}); err != nil {
		c.s.log.Warn("voice relay: field clients of other nodes not told", "type", f.Type, "err", err)
	}
}

// fieldElsewhere lists the field users online on the other live nodes.
func (c *cluster) fieldElsewhere(ctx context.Context) []string {
	nodes, err := c.rdb.SMembers(ctx, c.nodesKey()).Result()
	if err != nil {
		return nil
	}
	var keys []string
	for _, n := range nodes {
		if n != c.node {
			keys = append(keys, c.fieldKey(n))
		}
	}
	if len(keys) == 0 {
		return nil
	}
	users, _ := c.rdb.SUnion(ctx, keys...).Result()
	return users
}

// sessionOpened and sessionClosed track this node's sockets.
func (c *cluster) sessionOpened(ss *session) {
	c.mu.Lock()
	c.local[ss.sid] = ss
	c.mu.Unlock()
	if ss.role == RoleField {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		pipe := c.rdb.TxPipeline()
		pipe.SAdd(ctx, c.fieldKey(c.node), ss.user)
		pipe.PExpire(ctx, c.fieldKey(c.node), c.lease)
		_, _ = pipe.Exec(ctx)
	}
}

func (c *cluster) sessionClosed(ss *session) {
	c.mu.Lock()
	delete(c.local, ss.sid)
	for k := range c.lastIn {
		if strings.HasSuffix(k, "/"+ss.sid) {
			delete(c.lastIn, k)
		}
	}
	c.mu.Unlock()
	ss.mu.Lock()
	nodes := ss.relayedTo
	ss.remote, ss.relayedTo = nil, nil
	ss.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for n := range nodes {
		_ = c.publish(ctx, c.busKey(n), &envelope{Kind: envGone, SID: ss.sid})
	}
}

// beat renews the lease, republishes the online field users and sweeps the
// nodes whose lease lapsed.
func (c *cluster) beat(ctx context.Context) error {
	c.mu.Lock()
	frozen := c.frozen
	c.mu.Unlock()
	if frozen {
		return nil
	}
	s := c.s
	field := s.onlineField()
	pipe := c.rdb.TxPipeline()
	had := pipe.Exists(ctx, c.nodeKey(c.node))
	pipe.Set(ctx, c.nodeKey(c.node), "1", c.lease)
	pipe.SAdd(ctx, c.nodesKey(), c.node)
	pipe.Del(ctx, c.fieldKey(c.node))
	if len(field) > 0 {
		members := make([]any, len(field))
		for i, u := range field {
			members[i] = u
		}
		pipe.SAdd(ctx, c.fieldKey(c.node), members...)
		pipe.PExpire(ctx, c.fieldKey(c.node), c.lease)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return err
	}
	if c.beats.Swap(true) && had.Val() == 0 {
		// Our lease lapsed (a stall, or Redis away, longer than Lease).
		// A room whose record another node removed has been ended for
		// that node's clients and closed on the record: end it here too
		// rather than carry on half-heard. A room still on record (no
		// other node noticed: one node alone, Redis back) carries on.
		s.log.Warn("voice cluster: this node's lease had lapsed", "node", c.node)
		for _, r := range s.openRooms() {
			if r.kind == wire.KindRing {
				continue
			}
			if ok, err := c.rdb.HExists(ctx, c.roomsKey(), r.id).Result(); err == nil && !ok {
				s.log.Error("voice cluster: room ended by the other nodes while this one was away", "room", r.id, "node", c.node)
				r.mu.Lock()
				r.audited = false // its end is on record already (node_lost), written by the node that swept it
				r.mu.Unlock()
				s.endRoom(r, "node_lease_lost")
			}
		}
	}
	return c.sweep(ctx)
}

// sweep finds nodes whose lease lapsed and cleans up after them.
func (c *cluster) sweep(ctx context.Context) error {
	s := c.s
	nodes, err := c.rdb.SMembers(ctx, c.nodesKey()).Result()
	if err != nil {
		return err
	}
	rooms, err := c.rdb.HGetAll(ctx, c.roomsKey()).Result()
	if err != nil {
		return err
	}
	// Every node this one depends on: registered ones, room owners, the
	// nodes of our clients' remote rooms and of our remote sessions.
	check := map[string]bool{}
	for _, n := range nodes {
		check[n] = true
	}
	recs := map[string]roomRecord{}
	for id, raw := range rooms {
		var rec roomRecord
		if json.Unmarshal([]byte(raw), &rec) == nil {
			recs[id] = rec
			check[rec.Node] = true
		}
	}
	c.mu.Lock()
	for _, ss := range c.local {
		ss.mu.Lock()
		for _, n := range ss.remote {
			check[n] = true
		}
		ss.mu.Unlock()
	}
	for _, rs := range c.remotes {
		check[rs.via] = true
	}
	c.mu.Unlock()
	delete(check, c.node)
	if len(check) == 0 {
		return nil
	}
	pipe := c.rdb.Pipeline()
	ex := map[string]*redis.IntCmd{}
	for n := range check {
		ex[n] = pipe.Exists(ctx, c.nodeKey(n))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return err
	}
	dead := map[string]bool{}
	for n, cmd := range ex {
		if cmd.Val() == 0 {
			dead[n] = true
		}
	}
	if len(dead) == 0 {
		return nil
	}
	for n := range dead {
		if removed, _ := c.rdb.SRem(ctx, c.nodesKey(), n).Result(); removed > 0 {
			s.met.nodesLost.Inc()
			s.log.Warn("voice cluster: node lost (lease lapsed)", "node", n)
		}
	}
	if reqs, err := c.rdb.HGetAll(ctx, c.requestsKey()).Result(); err == nil {
		for id, raw := range reqs {
			var rec requestRecord
			if json.Unmarshal([]byte(raw), &rec) == nil && dead[rec.Node] {
				c.rdb.HDel(ctx, c.requestsKey(), id) // its requester's socket died with it
			}
		}
	}
	// The owner's rooms: the first node to delete a record closes it on
	// the record.
	now := time.Now()
	for id, rec := range recs {
		if !dead[rec.Node] {
			continue
		}
		won, err := c.rdb.HDel(ctx, c.roomsKey(), id).Result()
		if err != nil || won == 0 {
			continue
		}
		if rec.TokenHash != "" {
			c.rdb.HDel(ctx, c.tokensKey(), rec.TokenHash)
		}
		if rec.Start != nil {
			e := *rec.Start
			e.Action, e.Actor, e.Ended, e.Reason, e.Recording = AuditLiveEnd, SystemActor, now, "node_lost: "+rec.Node, ""
			_ = s.audit(e)
		}
	}
	// Our clients in rooms of a lost node are told; remote sessions from a
	// lost node leave their rooms.
	c.mu.Lock()
	locals := make([]*session, 0, len(c.local))
	for _, ss := range c.local {
		locals = append(locals, ss)
	}
	var gone []*session
	for _, rs := range c.remotes {
		if dead[rs.via] {
			gone = append(gone, rs)
		}
	}
	c.mu.Unlock()
	for _, ss := range locals {
		ss.mu.Lock()
		var ended []string
		for room, n := range ss.remote {
			if dead[n] {
				ended = append(ended, room)
				delete(ss.remote, room)
			}
		}
		ss.mu.Unlock()
		for _, room := range ended {
			ss.send(&wire.Frame{Type: wire.TypeRoomEnded, Room: room, Reason: "node_lost: the server holding this room stopped; start again"})
		}
	}
	for _, rs := range gone {
		rs.close()
	}
	return nil
}

// freeze stops renewing the lease and answering the bus, as a crashed node
// would (tests).
func (c *cluster) freeze() {
	c.mu.Lock()
	c.frozen = true
	c.mu.Unlock()
	_ = c.ps.Unsubscribe(context.Background())
}

// thaw undoes freeze: the node comes back after its lease lapsed (tests).
func (c *cluster) thaw() {
	c.mu.Lock()
	c.frozen = false
	c.mu.Unlock()
	_ = c.ps.Subscribe(context.Background(), c.busKey(c.node), c.busAll())
}

// roomByTokenHash finds the live room a hashed token admits to.
func (s *Server) roomByTokenHash(h string) *room {
	want, err := hex.DecodeString(h)
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for tok, r := range s.tokens {
		got := sha256.Sum256([]byte(tok))
		if hmac.Equal(got[:], want) {
			return r
		}
	}
	return nil
}

func (s *Server) openRooms() []*room {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*room, 0, len(s.rooms))
	for _, r := range s.rooms {
		out = append(out, r)
	}
	return out
}

// fieldSessionsOf is every local field session of user, or of everyone
// when user is "".
func (s *Server) fieldSessionsOf(user string) []*session {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*session
	for ss := range s.sessions {
		if ss.role == RoleField && (user == "" || ss.user == user) {
			out = append(out, ss)
		}
	}
	return out
}
