package apitest

import "testing"

// Roles: integrations only ingest; admin-only mutations are refused to
// agents.

// operation is one query or mutation of the contract, with valid arguments
// for a workspace.
type operation struct {
	name string
	doc  string
	vars map[string]any
}

// everyOperation lists every query and mutation of the contract except
// ingestInbound, with arguments naming records of w (conversation id).
func everyOperation(w *Workspace, id string) []operation {
	return []operation{
		{"me", `{ me { id } }`, nil},
		{"queue", `{ queue(status: NEW) { totalCount edges { node { id } } } }`, nil},
		{"queueCounts", `{ queueCounts(status: NEW) { total } }`, nil},
		{"conversation", `query($id: ID!) { conversation(id: $id) { id } }`, map[string]any{"id": id}},
		{"agents", `{ agents { id } }`, nil},
		{"channels", `{ channels { id } }`, nil},
		{"settings", `{ settings { logoutGraceSeconds } }`, nil},
		{"missedAssignments", `{ missedAssignments { conversation { id } } }`, nil},
		{"setOwner", `mutation($id: ID!) { setOwner(input: {conversationId: $id, ownerId: "ben"}) { conversation { id } } }`, map[string]any{"id": id}},
		{"resolve", `mutation($id: ID!) { resolve(input: {conversationId: $id}) { conversation { id } } }`, map[string]any{"id": id}},
		{"moveToPending", `mutation($id: ID!) { moveToPending(input: {conversationId: $id}) { conversation { id } } }`, map[string]any{"id": id}},
		{"moveToNew", `mutation($id: ID!) { moveToNew(input: {conversationId: $id}) { conversation { id } } }`, map[string]any{"id": id}},
		{"reply", `mutation($id: ID!) { reply(input: {conversationId: $id, text: "hi"}) { message { id } } }`, map[string]any{"id": id}},
		{"setPresence", `mutation { setPresence(presence: ONLINE) { agent { id } } }`, nil},
		{"logout", `mutation { logout { agent { id } } }`, nil},
		{"acknowledgeMissedAssignments", `mutation($id: ID!) { acknowledgeMissedAssignments(conversationIds: [$id]) }`, map[string]any{"id": id}},
		{"updateSettings", `mutation { updateSettings(input: {removeOwnershipOnLogout: true, logoutGraceSeconds: 5, routing: {mode: BALANCED, defaultCapacity: 2}}) { settings { logoutGraceSeconds } } }`, nil},
		{"createChannel", `mutation { createChannel(input: {name: "Intruder"}) { channel { id } } }`, nil},
		{"setAutoOwnership", `mutation($ch: ID!) { setAutoOwnership(input: {channelId: $ch, agentId: "ben", enabled: true}) { channel { id } } }`, map[string]any{"ch": w.ChannelID}},
		{"setRoutingAgent", `mutation($ch: ID!) { setRoutingAgent(input: {channelId: $ch, agentId: "ben", enabled: true}) { channel { id } } }`, map[string]any{"ch": w.ChannelID}},
		{"setAgentPresence", `mutation { setAgentPresence(agentId: "ben", presence: AWAY) { agent { id } } }`, nil},
		{"upsertAgent", `mutation { upsertAgent(input: {id: "cleo", name: "Renamed", role: ADMIN, active: false, capacity: 3}) { agent { id } } }`, nil},
	}
}

// snapshot is what the operations above could change, as w's admin reads it.
func snapshot(t *testing.T, w *Workspace, id string) string {
	t.Helper()
	r := w.Admin.MustDo(`query($id: ID!) {
  conversation(id: $id) { id status version owner { id } messages { edges { node { id } } } history { edges { node { id } } } }
  agents(includeInactive: true) { id name role active presence capacity }
  channels { id name autoOwnershipAgents { id } routingAgents { id } }
  settings { removeOwnershipOnLogout logoutGraceSeconds routing { mode defaultCapacity unansweredSeconds preferLastOwner } }
}`, map[string]any{"id": id}, nil)
	return string(r.Data)
}

func testIntegrationOnlyIngests(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	id := w.NewConversation("maria")
	w.SetOwner(w.Admin, id, "cleo")
	before := snapshot(t, w, id)
	for _, op := range everyOperation(w, id) {
		r := w.Integration.MustFail("FORBIDDEN", op.doc, op.vars)
		if r.Status != 200 {
			t.Errorf("%s: HTTP %d", op.name, r.Status)
		}
		assertNoLeak(t, r)
	}
	if after := snapshot(t, w, id); after != before {
		t.Fatalf("an integration changed things:\nbefore %s\nafter  %s", before, after)
	}
	// And it is never an agent.
	var out struct{ Agents []struct{ ID string } }
	w.Admin.MustDo(`{ agents(includeInactive: true) { id } }`, nil, &out)
	for _, a := range out.Agents {
		if a.ID == "connector" {
			t.Fatalf("agents lists the integration: %+v", out.Agents)
		}
	}
	// What it may do works.
	if in := w.Inbound("maria", "m2", "hello again"); in.ConversationID != id {
		t.Fatalf("ingest: %+v", in)
	}
}

func testAdminOnly(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	id := w.NewConversation("maria")
	before := snapshot(t, w, id)
	adminOnly := map[string]bool{"updateSettings": true, "createChannel": true, "setAutoOwnership": true, "upsertAgent": true,
		"setRoutingAgent": true, "setAgentPresence": true}
	for _, op := range everyOperation(w, id) {
		if !adminOnly[op.name] {
			continue
		}
		for _, c := range []*Client{w.Ben, w.Cleo, w.Integration} {
			r := c.MustFail("FORBIDDEN", op.doc, op.vars)
			assertNoLeak(t, r)
		}
	}
	if after := snapshot(t, w, id); after != before {
		t.Fatalf("agents changed admin things:\nbefore %s\nafter  %s", before, after)
	}
	// The admin may.
	for _, op := range everyOperation(w, id) {
		if adminOnly[op.name] {
			w.Admin.MustDo(op.doc, op.vars, nil)
		}
	}
}

func testIntegrationForbiddenFirst(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	id := w.NewConversation("maria")
	for _, op := range []operation{
		{"queue with first over 100", `{ queue(status: NEW, first: 101) { totalCount } }`, nil},
		{"queue with an unknown channel", `{ queue(status: NEW, channelIds: ["ch_unknown"]) { totalCount } }`, nil},
		{"queue with an unknown owner", `{ queue(status: NEW, ownership: {ownerIds: ["nobody"]}) { totalCount } }`, nil},
		{"queue with a bad cursor", `{ queue(status: NEW, after: "garbage") { totalCount } }`, nil},
		{"queueCounts with an unknown channel", `{ queueCounts(status: NEW, channelIds: ["ch_unknown"]) { total } }`, nil},
		{"setOwner without ownerId", `mutation($id: ID!) { setOwner(input: {conversationId: $id}) { conversation { id } } }`, map[string]any{"id": id}},
		{"setOwner to an empty id", `mutation($id: ID!) { setOwner(input: {conversationId: $id, ownerId: ""}) { conversation { id } } }`, map[string]any{"id": id}},
		{"setOwner of an unknown conversation", `mutation { setOwner(input: {conversationId: "cv_unknown", ownerId: "ben"}) { conversation { id } } }`, nil},
		{"reply with empty text", `mutation($id: ID!) { reply(input: {conversationId: $id, text: ""}) { message { id } } }`, map[string]any{"id": id}},
		{"reply with thenMoveTo NEW", `mutation($id: ID!) { reply(input: {conversationId: $id, text: "x", thenMoveTo: NEW}) { message { id } } }`, map[string]any{"id": id}},
		{"updateSettings out of range", `mutation { updateSettings(input: {logoutGraceSeconds: 99}) { settings { logoutGraceSeconds } } }`, nil},
		{"upsertAgent with role INTEGRATION", `mutation { upsertAgent(input: {id: "x", name: "X", role: INTEGRATION}) { agent { id } } }`, nil},
		{"createChannel with an empty name", `mutation { createChannel(input: {name: ""}) { channel { id } } }`, nil},
		{"setAutoOwnership on an unknown channel", `mutation { setAutoOwnership(input: {channelId: "ch_unknown", agentId: "ben", enabled: true}) { channel { id } } }`, nil},
	} {
		r := w.Integration.Do(op.doc, op.vars)
		if r.Code() != "FORBIDDEN" {
			t.Errorf("an integration's %s: want FORBIDDEN, got %s", op.name, r.Raw)
		}
	}
	// Agents likewise for admin-only mutations.
	for _, doc := range []string{
		`mutation { updateSettings(input: {logoutGraceSeconds: 99}) { settings { logoutGraceSeconds } } }`,
		`mutation { upsertAgent(input: {id: "x", name: "", role: INTEGRATION}) { agent { id } } }`,
		`mutation { createChannel(input: {name: "Email"}) { channel { id } } }`,
		`mutation { setAutoOwnership(input: {channelId: "ch_unknown", agentId: "nobody", enabled: true}) { channel { id } } }`,
	} {
		w.Ben.MustFail("FORBIDDEN", doc, nil)
	}
}
