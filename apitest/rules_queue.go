package apitest

import (
	"testing"
	"time"
)

// Rules of the queues: moves between NEW, PENDING and RESOLVED, their
// versions and waitingSince, boomerangAt validation, and no-ops.

func testNewConversationState(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	id := w.NewConversation("maria")
	c := w.Get(w.Ben, id)
	now := e.Now()
	if c.Status != "NEW" || c.Version != 1 || c.OwnerID() != "" || c.OwnershipLabel != nil || c.OwnedSince != nil ||
		c.BoomerangAt != nil || c.WaitingSince != now || c.CreatedAt != now || c.UpdatedAt != now {
		t.Fatalf("new conversation: %+v; want NEW, version 1, unowned, no label, no boomerang, times %s", c, now)
	}
	if h := w.History(w.Ben, id); len(h) != 0 {
		t.Fatalf("a new conversation has history %v", h)
	}
	msgs := w.Messages(w.Ben, id)
	if len(msgs) != 1 || msgs[0].Direction != "INBOUND" || msgs[0].Author != nil || msgs[0].Text != "Hello from maria" || msgs[0].CreatedAt != now {
		t.Fatalf("messages %+v; want one inbound message without author", msgs)
	}
}

func testMoveToPending(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	id := w.NewConversation("maria")
	e.Clock.Advance(time.Minute)
	p := w.Move(w.Ben, "moveToPending", id)
	c := p.Conversation
	if c.Status != "PENDING" || c.Version != 2 || c.WaitingSince != e.Now() || c.UpdatedAt != e.Now() || c.CreatedAt != Stamp(Epoch) || c.BoomerangAt != nil {
		t.Fatalf("after moveToPending: %+v; want PENDING, version 2, waitingSince and updatedAt %s", c, e.Now())
	}
	if p.OwnershipChange != nil {
		t.Fatalf("moveToPending of an unowned conversation reports ownership change %+v", p.OwnershipChange.Entry())
	}
	if h := w.History(w.Ben, id); len(h) != 0 {
		t.Fatalf("history %v; want none", h)
	}
	if got := w.Get(w.Cleo, id); got.Status != "PENDING" || got.Version != 2 {
		t.Fatalf("re-read: %+v", got)
	}
	if ids := w.Queue(w.Ben, map[string]any{"status": "NEW"}).IDs(); len(ids) != 0 {
		t.Fatalf("NEW queue still lists %v", ids)
	}
	if ids := w.Queue(w.Ben, map[string]any{"status": "PENDING"}).IDs(); len(ids) != 1 || ids[0] != id {
		t.Fatalf("PENDING queue lists %v; want [%s]", ids, id)
	}
}

func testMoveToPendingBoomerang(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	id := w.NewConversation("maria")
	// 11:00:00.123456 at +01:00 is 10:00:00.123 UTC, an hour after the epoch.
	p := w.Mutate(w.Ben, "moveToPending", map[string]any{"conversationId": id, "boomerangAt": "2026-03-02T11:00:00.123456+01:00"})
	want := "2026-03-02T10:00:00.123Z"
	if c := p.Conversation; c.Status != "PENDING" || c.BoomerangAt == nil || *c.BoomerangAt != want || c.Version != 2 {
		t.Fatalf("after moveToPending with a boomerang: %+v; want PENDING with boomerangAt %s at version 2", c, want)
	}
	if c := w.Get(w.Cleo, id); c.BoomerangAt == nil || *c.BoomerangAt != want {
		t.Fatalf("re-read boomerangAt %v; want %s", c.BoomerangAt, want)
	}
}

func testBoomerangNotInFuture(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	id := w.NewConversation("maria")
	pending := w.NewConversation("paul")
	w.Move(w.Ben, "moveToPending", pending)
	e.Clock.Advance(time.Hour)
	for _, at := range []time.Time{e.Clock.Now(), e.Clock.Now().Add(-time.Millisecond), e.Clock.Now().Add(-24 * time.Hour)} {
		for _, conv := range []string{id, pending} {
			w.Ben.MustFailArg("BAD_USER_INPUT", "input.boomerangAt", MutationDoc("moveToPending"),
				map[string]any{"in": map[string]any{"conversationId": conv, "boomerangAt": Stamp(at)}})
		}
	}
	if c := w.Get(w.Ben, id); c.Status != "NEW" || c.Version != 1 || c.BoomerangAt != nil {
		t.Fatalf("after refused moves: %+v; want NEW at version 1", c)
	}
	if c := w.Get(w.Ben, pending); c.Status != "PENDING" || c.Version != 2 || c.BoomerangAt != nil {
		t.Fatalf("after refused moves: %+v; want PENDING at version 2 without boomerang", c)
	}
	// A millisecond ahead is in the future.
	p := w.Mutate(w.Ben, "moveToPending", map[string]any{"conversationId": id, "boomerangAt": Stamp(e.Clock.Now().Add(time.Millisecond))})
	if p.Conversation.BoomerangAt == nil || *p.Conversation.BoomerangAt != Stamp(e.Clock.Now().Add(time.Millisecond)) {
		t.Fatalf("boomerangAt a millisecond ahead: %+v", p.Conversation)
	}
}

func testBoomerangMalformed(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	id := w.NewConversation("maria")
	for _, at := range []any{"tomorrow", "2026-13-40T99:00:00Z", "2026-03-02 10:00:00", 12345, true} {
		r := w.Ben.MustFailArg("BAD_USER_INPUT", "input.boomerangAt", MutationDoc("moveToPending"),
			map[string]any{"in": map[string]any{"conversationId": id, "boomerangAt": at}})
		assertNoLeak(t, r)
	}
	// Written in the document rather than in a variable: the same.
	w.Ben.MustFailArg("BAD_USER_INPUT", "input.boomerangAt",
		`mutation($id: ID!) { moveToPending(input: {conversationId: $id, boomerangAt: "soon"}) { conversation { id } } }`, map[string]any{"id": id})
	if c := w.Get(w.Ben, id); c.Status != "NEW" || c.Version != 1 {
		t.Fatalf("after refused moves: %+v", c)
	}
}

func testNewBoomerangIsChange(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	id := w.NewConversation("maria")
	first := Stamp(Epoch.Add(2 * time.Hour))
	w.Mutate(w.Ben, "moveToPending", map[string]any{"conversationId": id, "boomerangAt": first})
	entered := e.Now()
	e.Clock.Advance(time.Minute)
	// The same boomerang again changes nothing.
	p := w.Mutate(w.Ben, "moveToPending", map[string]any{"conversationId": id, "boomerangAt": first, "expectedVersion": 1})
	if c := p.Conversation; c.Version != 2 || c.BoomerangAt == nil || *c.BoomerangAt != first || c.UpdatedAt != entered {
		t.Fatalf("the same boomerang again: %+v; want version 2 unchanged", c)
	}
	second := Stamp(Epoch.Add(3 * time.Hour))
	p = w.Mutate(w.Ben, "moveToPending", map[string]any{"conversationId": id, "boomerangAt": second})
	c := p.Conversation
	if c.Version != 3 || c.Status != "PENDING" || c.BoomerangAt == nil || *c.BoomerangAt != second || c.WaitingSince != entered || c.UpdatedAt != e.Now() {
		t.Fatalf("a new boomerang: %+v; want version 3, boomerangAt %s, waitingSince still %s", c, second, entered)
	}
	// With the version it read, a stale one is a CONFLICT: it is a change.
	r := w.Ben.MustFail("CONFLICT", MutationDoc("moveToPending"), map[string]any{"in": map[string]any{
		"conversationId": id, "boomerangAt": Stamp(Epoch.Add(4 * time.Hour)), "expectedVersion": 2,
	}})
	if v, ok := r.CurrentVersion(); !ok || v != 3 {
		t.Fatalf("CONFLICT currentVersion %v %v; want 3: %s", v, ok, r.Raw)
	}
	if h := w.History(w.Ben, id); len(h) != 0 {
		t.Fatalf("history %v; want none", h)
	}
}

func testMoveToNewFromPending(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	id := w.NewConversation("maria")
	w.SetOwner(w.Ben, id, "ben")
	w.Mutate(w.Ben, "moveToPending", map[string]any{"conversationId": id, "boomerangAt": Stamp(Epoch.Add(time.Hour))})
	if c := w.Get(w.Ben, id); c.OwnershipLabel == nil || *c.OwnershipLabel != "Owned by Ben Baker" {
		t.Fatalf("PENDING label %v; want Owned by Ben Baker", c.OwnershipLabel)
	}
	e.Clock.Advance(10 * time.Minute)
	p := w.Move(w.Cleo, "moveToNew", id)
	c := p.Conversation
	if c.Status != "NEW" || c.Version != 4 || c.OwnerID() != "ben" || c.BoomerangAt != nil || c.WaitingSince != e.Now() ||
		c.OwnershipLabel == nil || *c.OwnershipLabel != "Waiting on Ben Baker" || c.OwnedSince == nil || *c.OwnedSince != Stamp(Epoch) {
		t.Fatalf("after moveToNew: %+v; want NEW at version 4, owner ben since the epoch, no boomerang, waitingSince %s", c, e.Now())
	}
	if p.OwnershipChange != nil {
		t.Fatalf("moveToNew reported ownership change %v", p.OwnershipChange.Entry())
	}
	if h := w.History(w.Ben, id); len(h) != 1 {
		t.Fatalf("history %v; want only the assignment", h)
	}
}

func testReopenResolved(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	id := w.NewConversation("maria")
	w.SetOwner(w.Ben, id, "ben")
	w.Move(w.Ben, "resolve", id)
	e.Clock.Advance(time.Minute)
	p := w.Move(w.Cleo, "moveToNew", id)
	c := p.Conversation
	if c.Status != "NEW" || c.OwnerID() != "" || c.OwnershipLabel != nil || c.OwnedSince != nil || c.Version != 4 || c.WaitingSince != e.Now() {
		t.Fatalf("reopened: %+v; want NEW, unowned, version 4, waitingSince %s", c, e.Now())
	}
	if p.OwnershipChange != nil {
		t.Fatalf("reopening reported ownership change %v", p.OwnershipChange.Entry())
	}
	h := w.History(w.Ben, id)
	if len(h) != 2 || h[0].Reason != "MANUAL" || h[1].Reason != "RESOLVED" {
		t.Fatalf("history %v; want the assignment and the resolve only", h)
	}
	if ids := w.Queue(w.Ben, map[string]any{"status": "NEW"}).IDs(); len(ids) != 1 || ids[0] != id {
		t.Fatalf("NEW queue %v; want the reopened conversation", ids)
	}
	if ids := w.Queue(w.Ben, map[string]any{"status": "RESOLVED"}).IDs(); len(ids) != 0 {
		t.Fatalf("RESOLVED queue still lists %v", ids)
	}
}

func testPendingFromResolved(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	id := w.NewConversation("maria")
	w.Move(w.Ben, "resolve", id)
	for _, in := range []map[string]any{
		{"conversationId": id},
		{"conversationId": id, "boomerangAt": Stamp(Epoch.Add(time.Hour))},
	} {
		w.Ben.MustFailArg("BAD_USER_INPUT", "input.conversationId", MutationDoc("moveToPending"), map[string]any{"in": in})
	}
	if c := w.Get(w.Ben, id); c.Status != "RESOLVED" || c.Version != 2 || c.BoomerangAt != nil {
		t.Fatalf("after refused moves: %+v; want RESOLVED at version 2", c)
	}
}

func testResolveClearsOwner(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	id := w.NewConversation("maria")
	w.SetOwner(w.Admin, id, "ben")
	e.Clock.Advance(time.Minute)
	p := w.Move(w.Cleo, "resolve", id)
	c := p.Conversation
	if c.Status != "RESOLVED" || c.OwnerID() != "" || c.OwnershipLabel != nil || c.OwnedSince != nil || c.Version != 3 || c.WaitingSince != e.Now() {
		t.Fatalf("resolved: %+v; want RESOLVED, unowned, version 3, waitingSince %s", c, e.Now())
	}
	want := Entry{Version: 3, Status: "RESOLVED", From: "ben", To: "", Actor: "cleo", Reason: "RESOLVED", At: e.Now()}
	if p.OwnershipChange == nil || p.OwnershipChange.Entry() != want {
		t.Fatalf("payload ownershipChange %+v; want %v", p.OwnershipChange, want)
	}
	if oc := p.OwnershipChange; oc.Conversation == nil || oc.Conversation.ID != id || oc.Conversation.Version != 3 || oc.Conversation.Status != "RESOLVED" {
		t.Fatalf("the change's conversation %+v; want %s at version 3, RESOLVED", oc.Conversation, id)
	}
	h := w.History(w.Ben, id)
	if len(h) != 2 || h[1] != want {
		t.Fatalf("history %v; want second entry %v", h, want)
	}
}

func testResolveUnowned(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	id := w.NewConversation("maria")
	p := w.Move(w.Ben, "resolve", id)
	if p.OwnershipChange != nil || p.Conversation.Status != "RESOLVED" || p.Conversation.Version != 2 {
		t.Fatalf("resolve unowned: %+v change %+v; want RESOLVED at version 2 without change", p.Conversation, p.OwnershipChange)
	}
	if h := w.History(w.Ben, id); len(h) != 0 {
		t.Fatalf("history %v; want none", h)
	}
}

func testMoveNoOps(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	newID := w.NewConversation("new")
	w.SetOwner(w.Ben, newID, "ben") // v2
	pendingID := w.NewConversation("pending")
	w.Move(w.Ben, "moveToPending", pendingID) // v2
	resolvedID := w.NewConversation("resolved")
	w.Move(w.Ben, "resolve", resolvedID) // v2
	e.Clock.Advance(time.Minute)
	cases := []struct {
		op, id string
		in     map[string]any
	}{
		{"moveToNew", newID, nil},
		{"moveToPending", pendingID, nil},
		{"resolve", resolvedID, nil},
		{"setOwner", newID, map[string]any{"ownerId": "ben"}},
		{"setOwner", pendingID, map[string]any{"ownerId": nil}},
		{"setOwner", resolvedID, map[string]any{"ownerId": nil}},
	}
	for _, tc := range cases {
		before := w.Get(w.Ben, tc.id)
		for _, expected := range []any{nil, 1, 2} {
			in := map[string]any{"conversationId": tc.id}
			for k, v := range tc.in {
				in[k] = v
			}
			if expected != nil {
				in["expectedVersion"] = expected
			}
			p := w.Mutate(w.Cleo, tc.op, in)
			if !sameConversation(p.Conversation, before) {
				t.Errorf("%s on %s (expectedVersion %v): %+v; want unchanged %+v", tc.op, before.Status, expected, p.Conversation, before)
			}
			if p.OwnershipChange != nil {
				t.Errorf("%s on %s: a no-op reported change %v", tc.op, before.Status, p.OwnershipChange.Entry())
			}
		}
		if after := w.Get(w.Ben, tc.id); !sameConversation(after, before) {
			t.Errorf("%s on %s changed the conversation: %+v -> %+v", tc.op, before.Status, before, after)
		}
	}
	if h := w.History(w.Ben, newID); len(h) != 1 {
		t.Errorf("history of the NEW conversation %v; want the one assignment", h)
	}
	for _, id := range []string{pendingID, resolvedID} {
		if h := w.History(w.Ben, id); len(h) != 0 {
			t.Errorf("history %v; want none", h)
		}
	}
}

// sameConversation compares two reads of a conversation field by field.
func sameConversation(a, b *Conversation) bool {
	if a == nil || b == nil {
		return a == b
	}
	s := func(p *string) string {
		if p == nil {
			return "<nil>"
		}
		return *p
	}
	return a.ID == b.ID && a.Status == b.Status && a.Version == b.Version && a.OwnerID() == b.OwnerID() &&
		s(a.OwnershipLabel) == s(b.OwnershipLabel) && s(a.OwnedSince) == s(b.OwnedSince) &&
		a.WaitingSince == b.WaitingSince && s(a.BoomerangAt) == s(b.BoomerangAt) &&
		a.CreatedAt == b.CreatedAt && a.UpdatedAt == b.UpdatedAt
}

func testMoveConflict(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	cases := []struct {
		op    string
		setup func(id string)
		in    map[string]any
	}{
		{"resolve", func(id string) { w.SetOwner(w.Ben, id, "ben") }, nil},
		{"moveToPending", func(id string) { w.SetOwner(w.Ben, id, "ben") }, nil},
		{"moveToPending", func(id string) { w.SetOwner(w.Ben, id, "ben") }, map[string]any{"boomerangAt": Stamp(Epoch.Add(time.Hour))}},
		{"moveToNew", func(id string) { w.Move(w.Ben, "moveToPending", id); w.SetOwner(w.Ben, id, "ben") }, nil},
		{"setOwner", func(id string) { w.SetOwner(w.Ben, id, "ben") }, map[string]any{"ownerId": "cleo"}},
		{"setOwner", func(id string) { w.SetOwner(w.Ben, id, "ben") }, map[string]any{"ownerId": nil}},
	}
	for i, tc := range cases {
		id := w.NewConversation("contact-" + string(rune('a'+i)))
		tc.setup(id)
		before := w.Get(w.Ben, id)
		in := map[string]any{"conversationId": id, "expectedVersion": 1}
		for k, v := range tc.in {
			in[k] = v
		}
		r := w.Cleo.MustFail("CONFLICT", MutationDoc(tc.op), map[string]any{"in": in})
		if v, ok := r.CurrentVersion(); !ok || v != before.Version {
			t.Errorf("%s: currentVersion %v (%v); want %d: %s", tc.op, v, ok, before.Version, r.Raw)
		}
		if after := w.Get(w.Ben, id); !sameConversation(after, before) {
			t.Errorf("%s: a CONFLICT changed the conversation: %+v -> %+v", tc.op, before, after)
		}
		if h := w.History(w.Ben, id); len(h) != 1 {
			t.Errorf("%s: history %v; want only the setup's assignment", tc.op, h)
		}
		assertNoLeak(t, r)
	}
}

func testMoveExpectedVersionOK(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	id := w.NewConversation("maria")
	steps := []struct {
		op     string
		status string
	}{{"moveToPending", "PENDING"}, {"moveToNew", "NEW"}, {"resolve", "RESOLVED"}, {"moveToNew", "NEW"}}
	for i, s := range steps {
		p := w.Mutate(w.Ben, s.op, map[string]any{"conversationId": id, "expectedVersion": i + 1})
		if p.Conversation.Status != s.status || p.Conversation.Version != i+2 {
			t.Fatalf("%s with expectedVersion %d: %+v; want %s at version %d", s.op, i+1, p.Conversation, s.status, i+2)
		}
	}
}

func testUnknownConversation(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	w.NewConversation("maria")
	for _, id := range []string{"cv_doesnotexist", "", "nothing-like-an-id"} {
		for _, op := range []string{"resolve", "moveToPending", "moveToNew"} {
			r := w.Ben.MustFail("NOT_FOUND", MutationDoc(op), map[string]any{"in": map[string]any{"conversationId": id}})
			assertNoLeak(t, r)
		}
		w.Ben.MustFail("NOT_FOUND", MutationDoc("setOwner"), map[string]any{"in": map[string]any{"conversationId": id, "ownerId": "ben"}})
		w.Ben.MustFail("NOT_FOUND", MutationDoc("setOwner"), map[string]any{"in": map[string]any{"conversationId": id, "ownerId": nil}})
		w.Ben.MustFail("NOT_FOUND", ReplyDoc, map[string]any{"in": map[string]any{"conversationId": id, "text": "hi"}})
	}
}

func testVersionsGrowByOne(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	id := w.NewConversation("maria")
	version := 1
	check := func(what string, got int) {
		t.Helper()
		version++
		if got != version {
			t.Fatalf("after %s: version %d; want %d", what, got, version)
		}
		if c := w.Get(w.Cleo, id); c.Version != version {
			t.Fatalf("after %s: re-read version %d; want %d", what, c.Version, version)
		}
	}
	check("an inbound message", func() int { w.Inbound("maria", "m2", "again"); return w.Get(w.Ben, id).Version }())
	check("a reply", w.Say(w.Ben, id, "hello").Conversation.Version)
	check("setOwner", w.SetOwner(w.Ben, id, "cleo").Version)
	check("moveToPending", w.Move(w.Ben, "moveToPending", id).Conversation.Version)
	check("an inbound message on PENDING", func() int { w.Inbound("maria", "m3", "and again"); return w.Get(w.Ben, id).Version }())
	check("a reply with thenMoveTo", w.Reply(w.Ben, map[string]any{"conversationId": id, "text": "bye", "thenMoveTo": "RESOLVED"}).Conversation.Version)
	check("moveToNew", w.Move(w.Ben, "moveToNew", id).Conversation.Version)
}

func testConversationUnknownNull(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	w.NewConversation("maria")
	for _, id := range []string{"cv_doesnotexist", ""} {
		r := w.Ben.MustDo(`query($id: ID!) { conversation(id: $id) { id } }`, map[string]any{"id": id}, nil)
		if string(r.Data) != `{"conversation":null}` {
			t.Fatalf("conversation(%q): %s; want null", id, r.Data)
		}
	}
}

func testExpectedVersionBelowOne(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	id := w.NewConversation("maria")
	before := w.Get(w.Ben, id)
	for _, tc := range []struct {
		op string
		in map[string]any
	}{
		{"setOwner", map[string]any{"ownerId": "ben"}},
		{"setOwner", map[string]any{"ownerId": nil}}, // a no-op: it has no owner
		{"resolve", nil},
		{"moveToPending", nil},
		{"moveToPending", map[string]any{"boomerangAt": Stamp(Epoch.Add(time.Hour))}},
		{"moveToNew", nil}, // a no-op: it is NEW
	} {
		for _, target := range []string{id, "cv_unknown"} {
			for _, v := range []int{0, -1, -1 << 31} {
				in := map[string]any{"conversationId": target, "expectedVersion": v}
				for k, val := range tc.in {
					in[k] = val
				}
				r := w.Ben.MustFailArg("BAD_USER_INPUT", "input.expectedVersion", MutationDoc(tc.op), map[string]any{"in": in})
				assertNoLeak(t, r)
			}
		}
	}
	if after := w.Get(w.Ben, id); !sameConversation(after, before) {
		t.Errorf("refused mutations changed the conversation: %+v -> %+v", before, after)
	}
	if h := w.History(w.Ben, id); len(h) != 0 {
		t.Errorf("history %v; want none", h)
	}
}
