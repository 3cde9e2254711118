// Package mongostore is Switchboard's production store: domain.Store on
// MongoDB 6.0 or later (a replica set, several server instances side by
// side), through the official driver. It is the only package that imports
// the driver.
//
// Every change to a conversation is one single-document conditional update
// (the expected version in the filter) that also pushes the change's history
// entry and message into a small `pending` array of the conversation
// document, so no crash separates a change from its entry. After the update
// the store copies each pending item into its own collection, keyed by a
// deterministic _id, so a repeated copy is a duplicate key and changes
// nothing, and then pulls it from `pending`. Whatever a crash leaves in
// `pending` is copied by Reconcile, and every read of messages and history
// sees pending items too, so the gap is invisible to readers. There are no
// multi-document transactions.
//
// Keys: every document carries its workspace id (`ws`), and its _id is built
// from the workspace and the record's own key, length-prefixed part by part,
// so the same record id in two workspaces is two documents and no filter on
// an _id can reach another workspace. Every read filters on _id and ws, or
// starts with ws; the three sweeps (DueBoomerangs, DueCleanups,
// SilentAgents) and Reconcile are the only reads across workspaces. Every
// query is served by an index that Migrate creates; untrusted input is only
// ever a value in a filter, never a key or an operator.
package mongostore

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/connstring"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/topology"

	"switchboard/domain"
)

// Options configure a Store.
type Options struct {
	// EventSink, if set, receives every committed change to a conversation
	// or an agent record, published in process right after the write, in
	// commit order per record. Leave it nil when a change-stream feed fills
	// the sink instead: the store then publishes nothing itself.
	EventSink domain.EventSink
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Database defaults to the URI's database, else "switchboard".
	Database string
	// OpTimeout bounds every call to the server (and the first ping of
	// Open); default 10s. A caller's earlier deadline wins.
	OpTimeout time.Duration
}

// DefaultDatabase is the database of a URI that names none.
const DefaultDatabase = "switchboard"

// DefaultOpTimeout bounds each call to the server.
const DefaultOpTimeout = 10 * time.Second

// Store is the MongoDB implementation of domain.Store.
type Store struct {
	client    *mongo.Client
	db        *mongo.Database
	log       *slog.Logger
	sink      domain.EventSink
	opTimeout time.Duration
	hosts     string

	settings, agents, channels, contacts, conversations, messages, history, acks *mongo.Collection
	routingLeases                                                                *mongo.Collection

	// locks serialize the writes to one record within this process: a
	// write that publishes holds its record's stripe from the update to the
	// end of Publish, so the events of one conversation (or agent) leave this
	// process in commit order. On a server whose single-document updates
	// are not atomic (FerretDB reads, changes and writes back a document in
	// steps), every update holds the stripe, so that two updates of one
	// document from this process cannot undo each other.
	locks     [256]sync.Mutex
	serialize bool
	// positions numbers the events published in process (events.go).
	positions positions

	migration Report

	// trace, when set (tests only), sees every read and conditional write
	// the store sends, to explain them.
	trace func(Op)
	// crashAfterCommit (tests only) makes writes stop right after their
	// conditional update, as a crash there would: nothing is copied out of
	// pending.
	crashAfterCommit bool
}

var _ domain.Store = (*Store)(nil)

// Op is one command the store sent, as explain needs it.
type Op struct {
	Collection string
	// Command is the explainable command: find, count (an aggregate),
	// aggregate or update.
	Command bson.D
}

// Open connects to the MongoDB server of uri, checks that it answers, and
// runs Migrate. A server that does not answer within opts.OpTimeout, or a
// malformed URI, is a clear error naming the hosts (never the password).
func Open(ctx context.Context, uri string, opts Options) (*Store, error) {
	cs, err := connstring.ParseAndValidate(uri)
	if err != nil {
		return nil, fmt.Errorf("mongo: invalid MongoDB URI: %s", redact(err.Error(), uri))
	}
	s := &Store{log: opts.Logger, sink: opts.EventSink, opTimeout: opts.OpTimeout, hosts: strings.Join(cs.Hosts, ",")}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.opTimeout <= 0 {
		s.opTimeout = DefaultOpTimeout
	}
	name := opts.Database
	if name == "" {
		name = cs.Database
	}
	if name == "" {
		name = DefaultDatabase
	}
	// Production defaults first, so that the URI's own settings (w=, pool
	// sizes, timeouts) win: majority writes, retryable writes and reads.
	co := options.Client().
		SetWriteConcern(writeconcern.Majority()).
		SetRetryWrites(true).
		SetRetryReads(true).
		SetServerSelectionTimeout(s.opTimeout).
		SetConnectTimeout(s.opTimeout).
		ApplyURI(uri)
	client, err := mongo.Connect(co)
	if err != nil {
		return nil, fmt.Errorf("mongo: connect to %s: %s", s.hosts, redact(err.Error(), uri))
	}
	s.client = client
	s.db = client.Database(name)
	s.settings = s.db.Collection(collSettings)
	s.agents = s.db.Collection(collAgents)
	s.channels = s.db.Collection(collChannels)
	s.contacts = s.db.Collection(collContacts)
	s.conversations = s.db.Collection(collConversations)
	s.messages = s.db.Collection(collMessages)
	s.history = s.db.Collection(collHistory)
	s.acks = s.db.Collection(collAcks)
	s.routingLeases = s.db.Collection(collRoutingLeases)

	pctx, cancel := s.op(ctx)
	err = client.Ping(pctx, readpref.Primary())
	cancel()
	if err != nil {
		_ = client.Disconnect(context.Background())
		return nil, fmt.Errorf("mongo: no answer from a MongoDB primary at %s within %s (is it running, and are the URI's hosts and "+
			"credentials right?): %s", s.hosts, s.opTimeout, redact(err.Error(), uri))
	}
	report, err := s.Migrate(ctx)
	if err != nil {
		_ = client.Disconnect(context.Background())
		return nil, err
	}
	s.migration = report
	s.serialize = report.ferret
	if n, err := s.Reconcile(ctx); err != nil {
		s.log.Warn("mongo: copying pending history and messages failed; the next Reconcile retries", "err", err)
	} else if n > 0 {
		s.log.Info("mongo: copied pending history entries and messages left by an interrupted write", "items", n)
	}
	return s, nil
}

// MigrationReport is what the Migrate run of Open did.
func (s *Store) MigrationReport() Report { return s.migration }

// Database is the database the store uses.
func (s *Store) Database() *mongo.Database { return s.db }

// Ping reports whether the primary answers; the driver reconnects by
// itself, so Ping turns true again when the server returns.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	if err := s.client.Ping(ctx, readpref.Primary()); err != nil {
		return wrap("ping "+s.hosts, err)
	}
	return nil
}

// WriteProbe writes the probe record, with the write concern of every other
// write, so that it fails as they would: no primary, no majority, no
// server, or a server that refuses writes.
func (s *Store) WriteProbe(ctx context.Context, at time.Time) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	_, err := s.db.Collection(collProbe).UpdateOne(ctx, bson.D{{Key: "_id", Value: "probe"}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "at", Value: utc(at)}}}}, options.UpdateOne().SetUpsert(true))
	return wrap("write probe", err)
}

// Close disconnects from the server.
func (s *Store) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), s.opTimeout)
	defer cancel()
	if err := s.client.Disconnect(ctx); err != nil && !errors.Is(err, mongo.ErrClientDisconnected) {
		return fmt.Errorf("mongo: close: %w", err)
	}
	return nil
}

// op bounds one call to the server.
func (s *Store) op(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.opTimeout)
}

// lock holds the stripe of a record's key when the write publishes an
// event (and there is a sink) or when this server needs writes serialized;
// it returns the function that releases it.
func (s *Store) lock(key string, publishes bool) func() {
	if !s.serialize && !(publishes && s.sink != nil) {
		return func() {}
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	m := &s.locks[h.Sum32()%uint32(len(s.locks))]
	m.Lock()
	return m.Unlock
}

// publish publishes a change this process just committed (without change
// streams), as committed now.
func (s *Store) publish(e *domain.Event) {
	if s.sink != nil && e != nil {
		e.CommittedAt = time.Now()
		s.publishLogged(e)
	}
}

func (s *Store) traced(coll *mongo.Collection, cmd bson.D) {
	if s.trace != nil {
		s.trace(Op{Collection: coll.Name(), Command: cmd})
	}
}

// key is the _id of the record named by parts: each part length-prefixed,
// so ("ab","c") and ("a","bc") differ and no key of one workspace equals a
// key of another.
func key(parts ...string) string {
	var b strings.Builder
	for _, p := range parts {
		b.WriteString(strconv.Itoa(len(p)))
		b.WriteByte(':')
		b.WriteString(p)
	}
	return b.String()
}

func settingsKey(ws string) string         { return key(ws) }
func agentKey(ws, id string) string        { return key(ws, id) }
func channelKey(ws, id string) string      { return key(ws, id) }
func contactKey(ws, id string) string      { return key(ws, id) }
func conversationKey(ws, id string) string { return key(ws, id) }
func messageKey(ws, id string) string      { return key(ws, id) }
func deliveryItemKey(ws, id string, v int64) string {
	return key(ws, id, "delivery", strconv.FormatInt(v, 10))
}
func historyKey(ws, conv string, v int64) string {
	return key(ws, conv, strconv.FormatInt(v, 10))
}
func ackKey(ws, agent, conv string, v int64) string {
	return key(ws, agent, conv, strconv.FormatInt(v, 10))
}

func keys(ws string, ids []string, f func(ws, id string) string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = f(ws, id)
	}
	return out
}

// maxBatch bounds the keys of one $in list.
const maxBatch = 1000

// chunks splits n keys into [lo, hi) ranges of at most maxBatch.
func chunks(n int) [][2]int {
	var out [][2]int
	for lo := 0; lo < n; lo += maxBatch {
		out = append(out, [2]int{lo, min(lo+maxBatch, n)})
	}
	return out
}

// unique returns xs without repeats, in first-seen order.
func unique(xs []string) []string {
	seen := make(map[string]bool, len(xs))
	out := make([]string, 0, len(xs))
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// wrap names the operation of a driver error and classifies it: a
// deployment that cannot serve the call now wraps domain.ErrUnavailable, so
// callers are told to retry; the domain's sentinels pass through unchanged;
// anything else is a fault.
func wrap(what string, err error) error {
	if err == nil || isSentinel(err) {
		return err
	}
	if unavailable(err) {
		return fmt.Errorf("mongo: %s: %w: %w", what, domain.ErrUnavailable, err)
	}
	return fmt.Errorf("mongo: %s: %w", what, err)
}

// unavailableCodes are the server's error codes for "not here, not now":
// the node is not (or no longer) the primary, is shutting down, cannot
// reach the others or wait for a majority, or is out of disk space.
var unavailableCodes = []int{
	6,     // HostUnreachable
	7,     // HostNotFound
	64,    // WriteConcernFailed: the majority did not acknowledge in time
	89,    // NetworkTimeout
	91,    // ShutdownInProgress
	189,   // PrimarySteppedDown
	202,   // NetworkInterfaceExceededTimeLimit
	262,   // ExceededTimeLimit
	9001,  // SocketException
	10107, // NotWritablePrimary
	11600, // InterruptedAtShutdown
	11602, // InterruptedDueToReplStateChange
	13435, // NotPrimaryNoSecondaryOk
	13436, // NotPrimaryOrSecondary
	14031, // OutOfDiskSpace
}

// unavailable reports whether err is the deployment not serving the call
// now: no server could be selected in time, the connection failed or timed
// out, or the server answered with one of unavailableCodes or the label of
// a write that is safe to retry. A client this store closed itself is not
// an outage (the server is shutting down), and neither is a refused or
// malformed command.
func unavailable(err error) bool {
	if errors.Is(err, mongo.ErrClientDisconnected) {
		return false
	}
	if errors.As(err, new(topology.ServerSelectionError)) || mongo.IsNetworkError(err) || mongo.IsTimeout(err) {
		return true
	}
	var se mongo.ServerError
	if !errors.As(err, &se) {
		return false
	}
	if se.HasErrorLabel("RetryableWriteError") {
		return true
	}
	for _, code := range unavailableCodes {
		if se.HasErrorCode(code) {
			return true
		}
	}
	return false
}

func isSentinel(err error) bool {
	return errors.Is(err, domain.ErrNotFound) || errors.Is(err, domain.ErrVersionConflict) || errors.Is(err, domain.ErrDuplicate)
}

// redact removes a URI's credentials from a message.
func redact(msg, uri string) string {
	rest := uri
	if i := strings.Index(rest, "://"); i >= 0 {
		rest = rest[i+3:]
	}
	if q := strings.IndexAny(rest, "?"); q >= 0 {
		rest = rest[:q]
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return msg
	}
	userinfo := rest[:at]
	secrets := []string{userinfo}
	if _, pw, ok := strings.Cut(userinfo, ":"); ok && pw != "" {
		secrets = append(secrets, pw)
		if dec, err := url.PathUnescape(pw); err == nil {
			secrets = append(secrets, dec)
		}
	}
	for _, sec := range secrets {
		msg = strings.ReplaceAll(msg, sec, "REDACTED")
	}
	return msg
}

// findAll runs a find and decodes every document.
func findAll[T any](ctx context.Context, s *Store, coll *mongo.Collection, filter bson.D, fo *options.FindOptionsBuilder, cmd bson.D) ([]T, error) {
	s.traced(coll, cmd)
	ctx, cancel := s.op(ctx)
	defer cancel()
	cur, err := coll.Find(ctx, filter, fo)
	if err != nil {
		return nil, err
	}
	var out []T
	if err := cur.All(ctx, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// find runs a find of filter with an optional sort and limit (0: none).
func find[T any](ctx context.Context, s *Store, coll *mongo.Collection, filter, sort bson.D, limit int64) ([]T, error) {
	fo := options.Find()
	cmd := bson.D{{Key: "find", Value: coll.Name()}, {Key: "filter", Value: filter}}
	if sort != nil {
		fo.SetSort(sort)
		cmd = append(cmd, bson.E{Key: "sort", Value: sort})
	}
	if limit > 0 {
		fo.SetLimit(limit)
		cmd = append(cmd, bson.E{Key: "limit", Value: limit})
	}
	return findAll[T](ctx, s, coll, filter, fo, cmd)
}

// findOne returns the one document of filter, nil if none.
func findOne[T any](ctx context.Context, s *Store, coll *mongo.Collection, filter bson.D) (*T, error) {
	out, err := find[T](ctx, s, coll, filter, nil, 1)
	if err != nil || len(out) == 0 {
		return nil, err
	}
	return &out[0], nil
}

// byKeys reads the documents with these _ids in one workspace, in key
// order, nil for unknown keys.
func byKeys[D any, T any](ctx context.Context, s *Store, coll *mongo.Collection, ws string, ks []string, id func(*D) string, conv func(*D) *T) ([]*T, error) {
	out := make([]*T, len(ks))
	if len(ks) == 0 {
		return out, nil
	}
	found := make(map[string]*T, len(ks))
	uk := unique(ks)
	for _, c := range chunks(len(uk)) {
		part := uk[c[0]:c[1]]
		docs, err := find[D](ctx, s, coll, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: part}}}, {Key: "ws", Value: ws}}, nil, 0)
		if err != nil {
			return nil, err
		}
		for i := range docs {
			found[id(&docs[i])] = conv(&docs[i])
		}
	}
	for i, k := range ks {
		out[i] = found[k]
	}
	return out, nil
}

// update runs one UpdateOne and reports how many documents matched.
func (s *Store) update(ctx context.Context, coll *mongo.Collection, filter, upd bson.D) (int64, error) {
	s.traced(coll, bson.D{{Key: "update", Value: coll.Name()}, {Key: "updates", Value: bson.A{bson.D{{Key: "q", Value: filter}, {Key: "u", Value: upd}}}}})
	ctx, cancel := s.op(ctx)
	defer cancel()
	res, err := coll.UpdateOne(ctx, filter, upd)
	if err != nil {
		return 0, err
	}
	return res.MatchedCount, nil
}

// insert runs one InsertOne; a duplicate key is domain.ErrDuplicate.
func (s *Store) insert(ctx context.Context, coll *mongo.Collection, doc any) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	_, err := coll.InsertOne(ctx, doc)
	if mongo.IsDuplicateKeyError(err) {
		return domain.ErrDuplicate
	}
	return err
}

// Conversions between domain times and BSON dates (milliseconds, UTC).

func utc(t time.Time) time.Time { return t.UTC() }

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
