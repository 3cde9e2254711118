// Package outagetest is one store outage under a running server, for every
// store to run with a real fault of its own (the SQLite store's disk fills
// up, the MongoDB store's server is stopped): a store outage degrades,
// never damages.
package outagetest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard/domain"
	"switchboard/internal/wsclient"
	"switchboard/server"
)

// Server is the server under test, built by the caller on the store under
// test, with the background jobs on the real clock.
type Server struct {
	URL             string // http://host:port
	Secret          []byte // signs the tokens the server accepts
	PresenceTimeout time.Duration
	// Logs is what the server logged so far, by log/slog's text handler.
	Logs *Log
}

// Outage is a real fault of the store.
type Outage struct {
	// Start makes the store unable to take writes; End makes it able again.
	Start, End func(t *testing.T)
	// Reads says whether the store still answers reads during the outage (a
	// full disk); if not (a server gone), reads are answered UNAVAILABLE too.
	Reads bool
	// ReadyWithin bounds how long /readyz may take to turn red, and green
	// again, once the store fails and once it is back.
	ReadyWithin time.Duration
}

// Run runs the scenario: agents connected by WebSocket own conversations,
// with remove-ownership-on-logout on and no grace; the store fails for
// three presence timeouts while their sockets answer every ping. Reads are
// answered (or UNAVAILABLE when the store cannot read either), writes are
// UNAVAILABLE with 503 and Retry-After, /readyz turns red and green again by
// itself, the log says so once each way, and afterwards every agent is
// ONLINE and every owner kept.
func Run(t *testing.T, srv Server, o Outage) {
	c := &client{t: t, srv: srv}
	ada, ben, cleo := c.token("ada", "admin"), c.token("ben", "agent"), c.token("cleo", "agent")
	mailer := c.token("mailer", "integration")
	timeout := srv.PresenceTimeout

	c.must(ada, `mutation { updateSettings(input: {removeOwnershipOnLogout: true, logoutGraceSeconds: 0}) { settings { removeOwnershipOnLogout } } }`, nil, nil)
	var ch struct {
		CreateChannel struct{ Channel struct{ ID string } }
	}
	c.must(ada, `mutation { createChannel(input: {name: "Email"}) { channel { id } } }`, nil, &ch)
	wsURL := "ws" + strings.TrimPrefix(srv.URL, "http") + "/graphql"
	watcher := wsclient.Connect(t, wsURL, wsclient.TransportWS, ada)
	watcher.Subscribe("p", `subscription { presenceChanged { id presence } }`, nil)
	watcher.Ready()
	convs := map[string]string{}
	for _, agent := range []struct{ id, token string }{{"ben", ben}, {"cleo", cleo}} {
		wsclient.Connect(t, wsURL, wsclient.TransportWS, agent.token)
		var p struct{ PresenceChanged struct{ ID, Presence string } }
		watcher.Next("p", &p)
		if p.PresenceChanged.ID != agent.id || p.PresenceChanged.Presence != "ONLINE" {
			t.Fatalf("signing %s in: %+v", agent.id, p)
		}
		var in struct {
			IngestInbound struct{ ConversationID string }
		}
		c.must(mailer, `mutation($in: InboundInput!) { ingestInbound(input: $in) { conversationId } }`,
			map[string]any{"in": map[string]any{"channelId": ch.CreateChannel.Channel.ID, "contactExternalId": agent.id + "-contact",
				"externalMessageId": agent.id + "-m1", "text": "hello"}}, &in)
		convs[agent.id] = in.IngestInbound.ConversationID
		c.must(ada, `mutation($id: ID!, $o: ID) { setOwner(input: {conversationId: $id, ownerId: $o}) { conversation { id } } }`,
			map[string]any{"id": convs[agent.id], "o": agent.id}, nil)
	}
	if code := c.ready(); code != http.StatusOK {
		t.Fatalf("/readyz before the outage: %d", code)
	}

	o.Start(t)
	started := time.Now()
	waitFor(t, "/readyz red", o.ReadyWithin, func() bool { return c.ready() == http.StatusServiceUnavailable })
	t.Logf("/readyz red %s after the store failed", time.Since(started).Round(time.Millisecond))
	reads := []struct{ token, query string }{{ben, `{ me { id presence } }`}, {cleo, `{ queue(status: NEW) { totalCount } }`}}
	for _, r := range reads {
		a := c.post(r.token, r.query, nil)
		switch {
		case o.Reads && (a.status != http.StatusOK || a.code != ""):
			t.Errorf("a read during the outage: HTTP %d %s; want it answered", a.status, a.body)
		case !o.Reads && !a.unavailable():
			t.Errorf("a read the store cannot answer: HTTP %d (Retry-After %q) %s; want 503 UNAVAILABLE with Retry-After",
				a.status, a.retryAfter, a.body)
		}
	}
	a := c.post(ben, `mutation($id: ID!) { setOwner(input: {conversationId: $id, ownerId: "ben"}) { conversation { id } } }`,
		map[string]any{"id": convs["cleo"]})
	if !a.unavailable() || !a.withoutDetail() {
		t.Errorf("a write during the outage: HTTP %d (Retry-After %q) %s; want 503 UNAVAILABLE with Retry-After, without detail",
			a.status, a.retryAfter, a.body)
	}
	if a := c.post(c.token("nia", "agent"), `{ me { id } }`, nil); !a.unavailable() || !a.withoutDetail() {
		t.Errorf("a first request (provisioning) during the outage: HTTP %d (Retry-After %q) %s; want 503 UNAVAILABLE",
			a.status, a.retryAfter, a.body)
	}
	// Three presence timeouts without a store, the sockets answering every
	// ping: nobody's presence changes.
	watcher.Quiet(time.Until(started.Add(3 * timeout)))

	o.End(t)
	ended := time.Now()
	waitFor(t, "/readyz green", o.ReadyWithin, func() bool { return c.ready() == http.StatusOK })
	t.Logf("/readyz green %s after the store was back", time.Since(ended).Round(time.Millisecond))
	// Past the sweep's wait after an outage (one presence timeout) and a
	// few sweeps more: still nobody.
	watcher.Quiet(timeout + 3*domain.PresenceSweepInterval)

	var agents struct {
		Agents []struct{ ID, Presence string }
	}
	c.must(ada, `{ agents { id presence } }`, nil, &agents)
	for _, ag := range agents.Agents {
		if ag.Presence != "ONLINE" {
			t.Errorf("after the outage %s is %s, want ONLINE", ag.ID, ag.Presence)
		}
	}
	for owner, id := range convs {
		var conv struct {
			Conversation struct{ Owner *struct{ ID string } }
		}
		c.must(ada, `query($id: ID!) { conversation(id: $id) { owner { id } } }`, map[string]any{"id": id}, &conv)
		if got := conv.Conversation.Owner; got == nil || got.ID != owner {
			t.Errorf("after the outage %s's conversation is owned by %+v, want %s", owner, got, owner)
		}
	}
	// The write that was refused goes through now.
	c.must(ben, `mutation($id: ID!) { setOwner(input: {conversationId: $id, ownerId: "ben"}) { conversation { id } } }`,
		map[string]any{"id": convs["cleo"]}, nil)

	if n := len(srv.Logs.Lines("store outage:")); n != 1 {
		t.Errorf("%d log lines say the outage started, want 1:\n%s", n, srv.Logs)
	}
	if n := len(srv.Logs.Lines("store outage over")); n != 1 {
		t.Errorf("%d log lines say the outage ended, want 1:\n%s", n, srv.Logs)
	}
	if errs := srv.Logs.Lines("level=ERROR"); len(errs) != 1 {
		t.Errorf("error log lines, want the outage's alone:\n%s", strings.Join(errs, "\n"))
	}
}

// waitFor polls cond until it holds, failing the test after ceiling.
func waitFor(t *testing.T, what string, ceiling time.Duration, cond func() bool) {
	t.Helper()
	end := time.Now().Add(ceiling)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("%s: not within %s", what, ceiling)
		}
		time.Sleep(50 * time.Millisecond) // a poll interval, not a wait for something
	}
}

// client is an HTTP client of the server under test.
type client struct {
	t   *testing.T
	srv Server
}

type answer struct {
	status     int
	retryAfter string
	code       string
	body       string
	data       json.RawMessage
}

func (a answer) unavailable() bool {
	return a.status == http.StatusServiceUnavailable && a.code == string(domain.CodeUnavailable) && a.retryAfter != ""
}

// withoutDetail: nothing of the cause reaches the caller.
func (a answer) withoutDetail() bool {
	low := strings.ToLower(a.body)
	for _, leak := range []string{"sqlite", "mongo", "disk", "full", "i/o", "server selection", "connection", "127.0.0.1"} {
		if strings.Contains(low, leak) {
			return false
		}
	}
	return true
}

func (c *client) token(sub, role string) string {
	c.t.Helper()
	tok, err := server.MintHS256(c.srv.Secret, server.TokenRequest{Subject: sub, WorkspaceID: "ws-outage", Role: role,
		Name: strings.ToUpper(sub[:1]) + sub[1:], TTL: time.Hour}, time.Now())
	if err != nil {
		c.t.Fatal(err)
	}
	return tok
}

func (c *client) post(token, query string, vars map[string]any) answer {
	c.t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, c.srv.URL+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), body: string(b)}
	var out struct {
		Data   json.RawMessage
		Errors []struct{ Extensions struct{ Code string } }
	}
	if err := json.Unmarshal(b, &out); err != nil {
		c.t.Fatalf("HTTP %d, not JSON: %s", resp.StatusCode, b)
	}
	a.data = out.Data
	if len(out.Errors) > 0 {
		a.code = out.Errors[0].Extensions.Code
	}
	return a
}

// must posts an operation that must succeed and decodes its data into out.
func (c *client) must(token, query string, vars map[string]any, out any) {
	c.t.Helper()
	a := c.post(token, query, vars)
	if a.status != http.StatusOK || a.code != "" {
		c.t.Fatalf("%s: HTTP %d %s", query, a.status, a.body)
	}
	if out != nil {
		if err := json.Unmarshal(a.data, out); err != nil {
			c.t.Fatal(err)
		}
	}
}

func (c *client) ready() int {
	c.t.Helper()
	resp, err := http.Get(c.srv.URL + "/readyz")
	if err != nil {
		c.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Log is a server's log, written by the server while the test reads it.
type Log struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *Log) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Lines returns the lines that contain s.
func (l *Log) Lines(s string) []string {
	var out []string
	for _, line := range strings.Split(l.String(), "\n") {
		if strings.Contains(line, s) {
			out = append(out, line)
		}
	}
	return out
}
