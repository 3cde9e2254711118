package apitest

import (
	"encoding/json"
	"strings"
	"testing"
)

// Tenancy: two workspaces with the same agent ids; every query and mutation
// of the contract is tried from workspace B against A's records, and
// nothing crosses.

// tenants is workspace A with records, and workspace B with the same agent
// ids under other names.
type tenants struct {
	e          *Env
	a, b       *Workspace
	a1, a2, a3 string // A: NEW owned by ben (missed), PENDING unowned, RESOLVED
	aChat      string
	b1         string // B: NEW, from the same contact and message ids as a1
}

func newTenants(t *testing.T, f Factory) *tenants {
	t.Helper()
	e := NewEnv(t, f)
	tn := &tenants{e: e, a: e.NewWorkspace("ws-a"), b: e.NewWorkspace("ws-b")}
	a, b := tn.a, tn.b
	// B's people have the same ids and other names.
	b.Admin = e.Admin("ws-b", "ada", "Ada of B")
	b.Ben = e.Agent("ws-b", "ben", "Ben of B")
	b.Cleo = e.Agent("ws-b", "cleo", "Cleo of B")
	for _, c := range []*Client{b.Admin, b.Ben, b.Cleo} {
		c.MustDo(`{ me { id } }`, nil, nil)
	}
	// A has an agent B lacks, a second channel, settings and auto-ownership.
	e.Agent("ws-a", "dana", "Dana of A").MustDo(`{ me { id } }`, nil, nil)
	tn.aChat = a.CreateChannel("Chat")
	a.Admin.MustDo(`mutation { updateSettings(input: {removeOwnershipOnLogout: true, logoutGraceSeconds: 10}) { settings { logoutGraceSeconds } } }`, nil, nil)
	a.SetAutoOwnership(a.ChannelID, "ben", true)
	setPresence(t, a.Cleo, "ONLINE")
	tn.a1 = a.NewConversation("maria")
	a.SetOwner(a.Admin, tn.a1, "ben") // ben is OFFLINE: missed
	a.Reply(a.Ben, map[string]any{"conversationId": tn.a1, "text": "A's reply", "clientMessageId": "k1"})
	tn.a2 = a.NewConversation("paul")
	a.Move(a.Admin, "moveToPending", tn.a2)
	tn.a3 = a.NewConversation("quinn")
	a.SetOwner(a.Admin, tn.a3, "dana")
	a.Move(a.Admin, "resolve", tn.a3)
	a.NewConversation("rita")
	tn.b1 = b.NewConversation("maria")
	return tn
}

// aState is everything of A that B could change, as A's admin reads it.
func (tn *tenants) aState(t *testing.T) string {
	t.Helper()
	a := tn.a
	var sb strings.Builder
	for _, id := range []string{tn.a1, tn.a2, tn.a3} {
		r := a.Admin.MustDo(`query($id: ID!) { conversation(id: $id) { id status version owner { id name } ownershipLabel boomerangAt waitingSince
			messages { edges { node { id text author { id name } } } } history { edges { node { id version reason actor { id } } } } } }`, map[string]any{"id": id}, nil)
		sb.Write(r.Data)
	}
	for _, doc := range []string{
		`{ agents(includeInactive: true) { id name email role active presence presenceSince } }`,
		`{ channels { id name autoOwnershipAgents { id name } } }`,
		`{ settings { removeOwnershipOnLogout logoutGraceSeconds } }`,
		`{ queueCounts(status: NEW) { total unowned byOwner { owner { id } count } } }`,
		`{ n: queue(status: NEW) { totalCount } p: queue(status: PENDING) { totalCount } r: queue(status: RESOLVED) { totalCount } }`,
	} {
		sb.Write(a.Admin.MustDo(doc, nil, nil).Data)
	}
	sb.Write(a.Ben.MustDo(`{ missedAssignments { conversation { id } change { id } } }`, nil, nil).Data)
	return sb.String()
}

// noTrace checks that a response from B names none of A's records.
func (tn *tenants) noTrace(t *testing.T, what string, r *Response) {
	t.Helper()
	for _, s := range []string{tn.a1, tn.a2, tn.a3, tn.a.ChannelID, tn.aChat, "ws-a", "of A", "Ada Admin", "Ben Baker", "Cleo Cruz"} {
		if strings.Contains(string(r.Raw), s) {
			t.Errorf("%s: B's response names A's %q: %s", what, s, r.Raw)
		}
	}
	assertNoLeak(t, r)
}

func testTenancyQueries(t *testing.T, f Factory) {
	tn := newTenants(t, f)
	a, b := tn.a, tn.b
	for _, c := range []*Client{b.Ben, b.Admin} {
		for _, id := range []string{tn.a1, tn.a2, tn.a3} {
			r := c.MustDo(`query($id: ID!) { conversation(id: $id) { id status history { edges { node { id } } } } }`, map[string]any{"id": id}, nil)
			if string(r.Data) != `{"conversation":null}` {
				t.Errorf("B's %s reads A's conversation: %s", c.Actor.ID, r.Data)
			}
		}
		for _, status := range []string{"NEW", "PENDING", "RESOLVED"} {
			for _, own := range []map[string]any{nil, {"ownedByMe": true}, {"ownedByOthers": true}, {"ownerIds": []string{"ben"}}, {"unowned": true}} {
				args := map[string]any{"status": status, "first": 100}
				if own != nil {
					args["ownership"] = own
				}
				p := b.Queue(c, args)
				want := 0
				if status == "NEW" && (own == nil || own["unowned"] == true) {
					want = 1
				}
				if p.TotalCount != want || len(p.Edges) != want || (want == 1 && p.Edges[0].Node.ID != tn.b1) {
					t.Errorf("B's queue %s %v: %v total %d; want only B's", status, own, p.IDs(), p.TotalCount)
				}
			}
		}
		r := c.MustDo(`{ queueCounts(status: NEW) { total unowned ownedByMe ownedByOthers byOwner { owner { id } count } } }`, nil, nil)
		if string(r.Data) != `{"queueCounts":{"total":1,"unowned":1,"ownedByMe":0,"ownedByOthers":0,"byOwner":[]}}` {
			t.Errorf("B's queueCounts: %s", r.Data)
		}
		r = c.MustDo(`{ agents(includeInactive: true) { id name } channels { name autoOwnershipAgents { id } } settings { removeOwnershipOnLogout logoutGraceSeconds } missedAssignments { conversation { id } } me { id name } }`, nil, nil)
		want := `{"agents":[{"id":"ada","name":"Ada of B"},{"id":"ben","name":"Ben of B"},{"id":"cleo","name":"Cleo of B"}],` +
			`"channels":[{"name":"Email","autoOwnershipAgents":[]}],"settings":{"removeOwnershipOnLogout":false,"logoutGraceSeconds":30},` +
			`"missedAssignments":[],"me":{"id":"` + c.Actor.ID + `","name":"` + c.Actor.Name + `"}}`
		if string(r.Data) != want {
			t.Errorf("B's %s reads\n %s\nwant\n %s", c.Actor.ID, r.Data, want)
		}
		tn.noTrace(t, "B's lists", r)
	}
	// B's presence is B's: A's cleo is ONLINE, B's is not.
	var agents struct {
		Agents []struct{ ID, Presence string }
	}
	b.Ben.MustDo(`{ agents(presence: [ONLINE]) { id presence } }`, nil, &agents)
	if len(agents.Agents) != 0 {
		t.Errorf("B's online agents %+v; A's cleo is the only one online", agents.Agents)
	}
	// A still sees its own.
	if c := a.Get(a.Ben, tn.a1); c == nil || c.OwnerID() != "ben" {
		t.Fatalf("A's conversation as A reads it: %+v", c)
	}
	if m := missedOf(t, a.Ben); len(m) != 1 || m[0].Conversation.ID != tn.a1 {
		t.Fatalf("A's ben's missed assignments %+v", m)
	}
}

func testTenancyMutations(t *testing.T, f Factory) {
	tn := newTenants(t, f)
	b := tn.b
	before := tn.aState(t)
	for _, c := range []*Client{b.Ben, b.Admin} {
		for _, id := range []string{tn.a1, tn.a2, tn.a3} {
			for _, tc := range []struct {
				op string
				in map[string]any
			}{
				{"setOwner", map[string]any{"ownerId": "ben"}},
				{"setOwner", map[string]any{"ownerId": nil}},
				{"setOwner", map[string]any{"ownerId": "cleo", "onlyIfUnowned": true}},
				{"setOwner", map[string]any{"ownerId": "cleo", "expectedVersion": 2}},
				{"resolve", nil},
				{"resolve", map[string]any{"expectedVersion": 1}},
				{"moveToPending", nil},
				{"moveToPending", map[string]any{"boomerangAt": Stamp(Epoch.AddDate(0, 0, 2))}},
				{"moveToNew", nil},
			} {
				in := map[string]any{"conversationId": id}
				for k, v := range tc.in {
					in[k] = v
				}
				r := c.MustFail("NOT_FOUND", MutationDoc(tc.op), map[string]any{"in": in})
				tn.noTrace(t, tc.op, r)
				if _, ok := r.CurrentVersion(); ok {
					t.Errorf("%s from B tells A's version: %s", tc.op, r.Raw)
				}
			}
			for _, in := range []map[string]any{
				{"conversationId": id, "text": "from B"},
				{"conversationId": id, "text": "A's reply", "clientMessageId": "k1"},
				{"conversationId": id, "text": "from B", "thenMoveTo": "RESOLVED"},
			} {
				r := c.MustFail("NOT_FOUND", ReplyDoc, map[string]any{"in": in})
				tn.noTrace(t, "reply", r)
			}
		}
		if n := acknowledge(t, c, tn.a1, tn.a2, tn.a3); n != 0 {
			t.Errorf("B's %s acknowledged %d of A's", c.Actor.ID, n)
		}
	}
	r := b.Admin.MustFail("NOT_FOUND", `mutation($in: AutoOwnershipInput!) { setAutoOwnership(input: $in) { channel { id } } }`,
		map[string]any{"in": map[string]any{"channelId": tn.a.ChannelID, "agentId": "ben", "enabled": false}})
	tn.noTrace(t, "setAutoOwnership", r)
	r = b.Admin.MustFail("NOT_FOUND", `mutation($in: AutoOwnershipInput!) { setAutoOwnership(input: $in) { channel { id } } }`,
		map[string]any{"in": map[string]any{"channelId": tn.aChat, "agentId": "cleo", "enabled": true}})
	tn.noTrace(t, "setAutoOwnership", r)
	for _, c := range []*Client{b.Integration, b.Admin} {
		r := c.MustFailArg("BAD_USER_INPUT", "input.channelId", inboundFullDoc, inboundInput(tn.a.ChannelID, "maria", "maria-second", "from B"))
		tn.noTrace(t, "ingestInbound", r)
	}
	// What B does to its own records with the same ids stays in B.
	setPresence(t, b.Ben, "ONLINE")
	setPresence(t, b.Cleo, "ONLINE")
	b.Cleo.MustDo(`mutation { logout { agent { id } } }`, nil, nil)
	b.Admin.MustDo(`mutation { updateSettings(input: {removeOwnershipOnLogout: false, logoutGraceSeconds: 60}) { settings { logoutGraceSeconds } } }`, nil, nil)
	b.SetAutoOwnership(b.ChannelID, "cleo", true)
	b.Admin.MustDo(`mutation { createChannel(input: {name: "Chat"}) { channel { id } } }`, nil, nil)
	b.UpsertAgent(map[string]any{"id": "dana", "name": "Dana of B", "role": "ADMIN"})
	b.SetOwner(b.Admin, tn.b1, "ben")
	b.Deactivate("ben", "Ben of B")
	b.Move(b.Admin, "resolve", tn.b1)
	if after := tn.aState(t); after != before {
		t.Fatalf("B changed A:\nbefore %s\nafter  %s", before, after)
	}
	// A's ben is still in, though B's ben is not.
	tn.a.Ben.MustDo(`{ me { id } }`, nil, nil)
	b.Ben.MustFail("FORBIDDEN", `{ me { id } }`, nil)
}

func testTenancyReferences(t *testing.T, f Factory) {
	tn := newTenants(t, f)
	b := tn.b
	before := tn.aState(t)
	for _, tc := range []struct {
		arg, doc string
		vars     map[string]any
	}{
		{"input.ownerId", MutationDoc("setOwner"), map[string]any{"in": map[string]any{"conversationId": tn.b1, "ownerId": "dana"}}},
		{"input.agentId", `mutation($in: AutoOwnershipInput!) { setAutoOwnership(input: $in) { channel { id } } }`,
			map[string]any{"in": map[string]any{"channelId": b.ChannelID, "agentId": "dana", "enabled": true}}},
		{"channelIds", QueueDoc, map[string]any{"status": "NEW", "channelIds": []string{tn.a.ChannelID}}},
		{"channelIds", QueueDoc, map[string]any{"status": "NEW", "channelIds": []string{b.ChannelID, tn.aChat}}},
		{"channelIds", `query($ch: [ID!]) { queueCounts(status: NEW, channelIds: $ch) { total } }`, map[string]any{"ch": []string{tn.aChat}}},
		{"ownership.ownerIds", QueueDoc, map[string]any{"status": "NEW", "ownership": map[string]any{"ownerIds": []string{"dana"}}}},
	} {
		r := b.Admin.MustFailArg("BAD_USER_INPUT", tc.arg, tc.doc, tc.vars)
		tn.noTrace(t, tc.arg, r)
	}
	// B's conversation is unchanged, A too.
	if c := b.Get(b.Ben, tn.b1); c.OwnerID() != "" || c.Version != 1 {
		t.Fatalf("B's conversation %+v", c)
	}
	if after := tn.aState(t); after != before {
		t.Fatalf("B changed A:\nbefore %s\nafter  %s", before, after)
	}
}

func testTenancySameKeys(t *testing.T, f Factory) {
	tn := newTenants(t, f)
	a, b := tn.a, tn.b
	// The same contact and message ids made a new conversation in B.
	if tn.b1 == tn.a1 {
		t.Fatal("B's conversation has A's id")
	}
	again := b.Inbound("maria", "maria-first", "Hello from maria")
	if !again.Duplicate || again.ConversationID != tn.b1 {
		t.Fatalf("a retry in B: %+v; want a duplicate of B's own", again)
	}
	fresh := b.Inbound("quinn", "quinn-first", "hi")
	if fresh.Duplicate {
		t.Fatalf("A's message id in B is a duplicate: %+v", fresh)
	}
	// A's reply key in B is B's own.
	p := b.Reply(b.Ben, map[string]any{"conversationId": tn.b1, "text": "B's own text", "clientMessageId": "k1"})
	if p.Conversation.Version != 2 || p.Message.Text != "B's own text" {
		t.Fatalf("a reply in B with A's key: %+v %+v", p.Conversation, p.Message)
	}
	// B's ben has no auto-ownership (A's ben does).
	if p.Conversation.OwnerID() != "" || p.OwnershipChange != nil {
		t.Fatalf("A's auto-ownership acted in B: %+v", p.Conversation)
	}
	// Labels name B's people.
	b.SetOwner(b.Cleo, tn.b1, "ben")
	if c := b.Get(b.Cleo, tn.b1); c.OwnershipLabel == nil || *c.OwnershipLabel != "Waiting on Ben of B" {
		t.Fatalf("B's label %v", c.OwnershipLabel)
	}
	if c := a.Get(a.Cleo, tn.a1); c.OwnershipLabel == nil || *c.OwnershipLabel != "Waiting on Ben Baker" {
		t.Fatalf("A's label %v", c.OwnershipLabel)
	}
	// B's ben got it while OFFLINE: B's missed assignment, not A's.
	if m := missedOf(t, b.Ben); len(m) != 1 || m[0].Conversation.ID != tn.b1 {
		t.Fatalf("B's ben's missed assignments %+v", m)
	}
	if m := missedOf(t, a.Ben); len(m) != 1 || m[0].Conversation.ID != tn.a1 {
		t.Fatalf("A's ben's missed assignments %+v", m)
	}
	// Acknowledging in B leaves A's.
	if n := acknowledge(t, b.Ben, tn.b1, tn.a1); n != 1 {
		t.Fatalf("B's ben acknowledged %d; want 1", n)
	}
	if m := missedOf(t, a.Ben); len(m) != 1 {
		t.Fatalf("A's ben's missed assignments after B's acknowledgement: %+v", m)
	}
	// Channel names are per workspace.
	b.CreateChannel("Chat")
}

func testTenancyCursors(t *testing.T, f Factory) {
	tn := newTenants(t, f)
	a, b := tn.a, tn.b
	for i := 0; i < 3; i++ {
		b.NewConversation("b-contact-" + string(rune('a'+i)))
	}
	for _, args := range []map[string]any{
		{"status": "NEW", "first": 1},
		{"status": "NEW", "first": 1, "order": "NEWEST"},
		{"status": "NEW", "first": 1, "ownership": map[string]any{"unowned": true}},
		{"status": "NEW", "first": 1, "ownership": map[string]any{"ownerIds": []string{"ben"}}},
	} {
		p := a.Queue(a.Ben, args)
		if p.PageInfo.EndCursor == nil {
			t.Fatalf("A's queue %v has no cursor", args)
		}
		args["after"] = *p.PageInfo.EndCursor
		a.Queue(a.Ben, args)
		for _, c := range []*Client{b.Ben, b.Admin} {
			r := c.MustFailArg("BAD_USER_INPUT", "after", QueueDoc, args)
			tn.noTrace(t, "a cursor of A", r)
		}
	}
}

func testTenancyLooksUnknown(t *testing.T, f Factory) {
	tn := newTenants(t, f)
	b := tn.b
	same := func(what string, mine, unknown *Response) {
		t.Helper()
		if len(mine.Errors) != 1 || len(unknown.Errors) != 1 {
			t.Fatalf("%s: want one error each: %s | %s", what, mine.Raw, unknown.Raw)
		}
		x, y := mine.Errors[0], unknown.Errors[0]
		if x.Message != y.Message || !sameJSON(x.Extensions, y.Extensions) || string(mine.Data) != string(unknown.Data) || mine.Status != unknown.Status {
			t.Errorf("%s: A's record and an unknown one answer differently:\n %s\n %s", what, mine.Raw, unknown.Raw)
		}
	}
	for _, op := range []string{"resolve", "moveToPending", "moveToNew"} {
		same(op, b.Try(b.Ben, op, map[string]any{"conversationId": tn.a1}), b.Try(b.Ben, op, map[string]any{"conversationId": "cv_unknown"}))
	}
	same("setOwner", b.Try(b.Ben, "setOwner", map[string]any{"conversationId": tn.a1, "ownerId": "ben"}),
		b.Try(b.Ben, "setOwner", map[string]any{"conversationId": "cv_unknown", "ownerId": "ben"}))
	same("reply", b.Ben.Do(ReplyDoc, map[string]any{"in": map[string]any{"conversationId": tn.a1, "text": "x"}}),
		b.Ben.Do(ReplyDoc, map[string]any{"in": map[string]any{"conversationId": "cv_unknown", "text": "x"}}))
	same("setOwner to A's agent", b.Try(b.Ben, "setOwner", map[string]any{"conversationId": tn.b1, "ownerId": "dana"}),
		b.Try(b.Ben, "setOwner", map[string]any{"conversationId": tn.b1, "ownerId": "nobody"}))
	same("ingestInbound on A's channel", b.Integration.Do(inboundFullDoc, inboundInput(tn.a.ChannelID, "x", "y", "z")),
		b.Integration.Do(inboundFullDoc, inboundInput("ch_unknown", "x", "y", "z")))
	auto := `mutation($ch: ID!, $ag: ID!) { setAutoOwnership(input: {channelId: $ch, agentId: $ag, enabled: true}) { channel { id } } }`
	same("setAutoOwnership on A's channel", b.Admin.Do(auto, map[string]any{"ch": tn.a.ChannelID, "ag": "ben"}),
		b.Admin.Do(auto, map[string]any{"ch": "ch_unknown", "ag": "ben"}))
	same("setAutoOwnership for A's agent", b.Admin.Do(auto, map[string]any{"ch": b.ChannelID, "ag": "dana"}),
		b.Admin.Do(auto, map[string]any{"ch": b.ChannelID, "ag": "nobody"}))
	same("queue on A's channel", b.Ben.Do(QueueDoc, map[string]any{"status": "NEW", "channelIds": []string{tn.aChat}}),
		b.Ben.Do(QueueDoc, map[string]any{"status": "NEW", "channelIds": []string{"ch_unknown"}}))
	same("queue by A's agent", b.Ben.Do(QueueDoc, map[string]any{"status": "NEW", "ownership": map[string]any{"ownerIds": []string{"dana"}}}),
		b.Ben.Do(QueueDoc, map[string]any{"status": "NEW", "ownership": map[string]any{"ownerIds": []string{"nobody"}}}))
}

func sameJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
