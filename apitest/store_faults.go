package apitest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"switchboard/domain"
)

// A store that fails or panics: what reaches the client is INTERNAL and
// nothing more. These tests stay in the suite, apart from the server's own
// tests of error presentation, because they wrap the store (faultyStore),
// and the server's tests run on a test server that builds its own.

// faultyStore fails or panics in chosen methods, with messages full of the
// detail that must never reach a client. While agentDown holds an id, reads
// of that agent fail too.
type faultyStore struct {
	domain.Store
	agentDown *atomic.Value
}

var errFaulty = errors.New("sqlite: database disk image is malformed at /var/lib/switchboard/SECRET-DETAIL.db (goroutine 7)")

func (s faultyStore) ListChannels(ctx context.Context, ws string) ([]domain.Channel, error) {
	return nil, errFaulty
}

func (s faultyStore) CountOwners(ctx context.Context, ws string, st domain.QueueStatus, ch []string) ([]domain.OwnerCount, error) {
	panic("SECRET-DETAIL: runtime error: index out of range")
}

func (s faultyStore) AgentsByIDs(ctx context.Context, ws string, ids []string) ([]*domain.Agent, error) {
	down, _ := s.agentDown.Load().(string)
	for _, id := range ids {
		if id == "broken" || id == down {
			return nil, errFaulty
		}
	}
	return s.Store.AgentsByIDs(ctx, ws, ids)
}

func (s faultyStore) UpdateConversation(ctx context.Context, w domain.ConversationWrite) error {
	if w.Message != nil && w.Message.Text == "fail" {
		return errFaulty
	}
	return s.Store.UpdateConversation(ctx, w)
}

func faulty(f Factory) Factory {
	return faultyWith(f, &atomic.Value{})
}

// faultyWith is faulty whose reads of the agent named by agentDown fail.
func faultyWith(f Factory, agentDown *atomic.Value) Factory {
	return Factory{Atomic: f.Atomic, New: func(t *testing.T, sink domain.EventSink) domain.Store {
		return faultyStore{Store: f.New(t, sink), agentDown: agentDown}
	}}
}

func testInternalNoDetail(t *testing.T, f Factory) {
	e := NewEnv(t, faulty(f))
	w := e.NewWorkspace("ws")
	id := w.NewConversation("maria")
	r := w.Ben.MustFail("INTERNAL", `{ channels { id } }`, nil)
	if r.Status != http.StatusOK || r.Errors[0].Message != "internal error" {
		t.Errorf("a failed query: HTTP %d %s; want 200 with message \"internal error\"", r.Status, r.Raw)
	}
	assertNoLeak(t, r)
	r = w.Ben.MustFail("INTERNAL", ReplyDoc, map[string]any{"in": map[string]any{"conversationId": id, "text": "fail"}})
	assertNoLeak(t, r)
	if c := w.Get(w.Ben, id); c.Version != 1 {
		t.Errorf("a failed reply left version %d", c.Version)
	}
	// Failing while authenticating: 500, INTERNAL, nothing else.
	broken := e.Agent("ws", "broken", "Broken Agent")
	for _, accept := range []string{mediaJSON, mediaResponse} {
		r = e.postAs(broken.Token, accept, `{ me { id } }`, nil)
		expectHTTP(t, "a store failure while authenticating", r, http.StatusInternalServerError, accept, "INTERNAL")
		expectNoData(t, "a store failure while authenticating", r)
	}
}

func testPanicNoDetail(t *testing.T, f Factory) {
	e := NewEnv(t, faulty(f))
	w := e.NewWorkspace("ws")
	r := w.Ben.MustFail("INTERNAL", `{ queueCounts(status: NEW) { total } me { id } }`, nil)
	assertNoLeak(t, r)
	if r.Status != http.StatusOK || r.Errors[0].Message != "internal error" {
		t.Errorf("a panic: HTTP %d %s; want 200 with message \"internal error\"", r.Status, r.Raw)
	}
	// The server survives it.
	w.Ben.MustDo(`{ me { id } }`, nil, nil)
}

// An owner that cannot be read degrades the conversation, not loses it:
// the owner and its label are null with INTERNAL at their places, and the
// rest of the conversation comes.
func testOwnerUnreadable(t *testing.T, f Factory) {
	var down atomic.Value
	e := NewEnv(t, faultyWith(f, &down))
	w := e.NewWorkspace("ws")
	id := w.NewConversation("maria")
	w.SetOwner(w.Admin, id, "cleo")
	down.Store("cleo")
	r := w.Ben.Do(`query($id: ID!) { conversation(id: $id) { id version owner { id } ownershipLabel channel { id } } }`, map[string]any{"id": id})
	assertNoLeak(t, r)
	var data struct {
		Conversation *struct {
			ID             string
			Version        int
			Owner          *struct{ ID string }
			OwnershipLabel *string
			Channel        struct{ ID string }
		}
	}
	if err := json.Unmarshal(r.Data, &data); err != nil {
		t.Fatal(err)
	}
	if c := data.Conversation; c == nil || c.ID != id || c.Version != 2 || c.Owner != nil || c.OwnershipLabel != nil || c.Channel.ID != w.ChannelID {
		t.Fatalf("an unreadable owner: want the conversation with a null owner and label, got %s", r.Raw)
	}
	paths := map[string]bool{}
	for _, e := range r.Errors {
		if e.Extensions["code"] != "INTERNAL" || len(e.Path) != 2 {
			t.Fatalf("an unreadable owner's error: %s", r.Raw)
		}
		paths[fmt.Sprint(e.Path...)] = true
	}
	if len(r.Errors) != 2 || !paths["conversationowner"] || !paths["conversationownershipLabel"] {
		t.Fatalf("want INTERNAL at conversation.owner and conversation.ownershipLabel, got %s", r.Raw)
	}
	// An error's path names the field as the client did (GraphQL's
	// response keys): each alias is a place of its own.
	r = w.Ben.Do(`query($id: ID!) { c: conversation(id: $id) { id who: owner { id } again: owner { name } label: ownershipLabel
		... on Conversation { frag: owner { id } } skipped: owner @skip(if: true) { id } } }`, map[string]any{"id": id})
	assertNoLeak(t, r)
	paths = map[string]bool{}
	for _, e := range r.Errors {
		paths[fmt.Sprint(e.Path...)] = true
	}
	if len(r.Errors) != 4 || !paths["cwho"] || !paths["cagain"] || !paths["clabel"] || !paths["cfrag"] {
		t.Fatalf("want INTERNAL at c.who, c.again, c.label and c.frag (in a fragment), none at c.skipped, got %s", r.Raw)
	}
	if !strings.Contains(string(r.Data), `"who":null`) || !strings.Contains(string(r.Data), `"again":null`) || !strings.Contains(string(r.Data), `"label":null`) {
		t.Fatalf("want c.who, c.again and c.label null, got %s", r.Raw)
	}
}
