package apitest

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Presence, me, agents, tokens updating agents, settings, channels and
// auto-ownership administration.

type agentView struct {
	ID, Name, Role, Presence, PresenceSince string
	Email                                   *string
	Active                                  bool
}

const agentFields = `id name email role active presence presenceSince`

func me(t *testing.T, c *Client) agentView {
	t.Helper()
	var out struct{ Me agentView }
	c.MustDo(`{ me { `+agentFields+` } }`, nil, &out)
	return out.Me
}

func setPresence(t *testing.T, c *Client, p string) agentView {
	t.Helper()
	var out struct{ SetPresence struct{ Agent agentView } }
	c.MustDo(`mutation($p: Presence!) { setPresence(presence: $p) { agent { `+agentFields+` } } }`, map[string]any{"p": p}, &out)
	return out.SetPresence.Agent
}

func testSetPresence(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	if m := me(t, w.Ben); m.Presence != "OFFLINE" || m.PresenceSince != Stamp(Epoch) {
		t.Fatalf("a new agent: %+v; want OFFLINE since the epoch", m)
	}
	steps := []struct {
		p       string
		changes bool
	}{
		{"ONLINE", true}, {"ONLINE", false}, {"AWAY", true}, {"AWAY", false}, {"ONLINE", true},
		{"OFFLINE", true}, {"OFFLINE", false}, {"AWAY", true}, {"OFFLINE", true},
	}
	since := Stamp(Epoch)
	for i, s := range steps {
		e.Clock.Advance(time.Minute)
		if s.changes {
			since = e.Now()
		}
		a := setPresence(t, w.Ben, s.p)
		if a.Presence != s.p || a.PresenceSince != since || a.ID != "ben" {
			t.Fatalf("step %d setPresence(%s): %+v; want %s since %s", i, s.p, a, s.p, since)
		}
		if m := me(t, w.Ben); m.Presence != s.p || m.PresenceSince != since {
			t.Fatalf("step %d: me %+v", i, m)
		}
	}
	// Others see it.
	var out struct{ Agents []agentView }
	w.Cleo.MustDo(`{ agents { `+agentFields+` } }`, nil, &out)
	for _, a := range out.Agents {
		if a.ID == "ben" && (a.Presence != "OFFLINE" || a.PresenceSince != since) {
			t.Fatalf("cleo sees ben %+v", a)
		}
	}
}

func testLogout(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	for _, p := range []string{"ONLINE", "AWAY"} {
		setPresence(t, w.Ben, p)
		e.Clock.Advance(time.Minute)
		var out struct{ Logout struct{ Agent agentView } }
		w.Ben.MustDo(`mutation { logout { agent { `+agentFields+` } } }`, nil, &out)
		if a := out.Logout.Agent; a.Presence != "OFFLINE" || a.PresenceSince != e.Now() || a.ID != "ben" {
			t.Fatalf("logout from %s: %+v; want OFFLINE since %s", p, a, e.Now())
		}
		if m := me(t, w.Ben); m.Presence != "OFFLINE" {
			t.Fatalf("after logout: %+v", m)
		}
	}
	// Logging out while OFFLINE changes nothing.
	since := e.Now()
	e.Clock.Advance(time.Minute)
	var out struct{ Logout struct{ Agent agentView } }
	w.Ben.MustDo(`mutation { logout { agent { `+agentFields+` } } }`, nil, &out)
	if a := out.Logout.Agent; a.Presence != "OFFLINE" || a.PresenceSince != since {
		t.Fatalf("logout while OFFLINE: %+v; want OFFLINE since %s", a, since)
	}
	// Integrations have no presence.
	w.Integration.MustFail("FORBIDDEN", `mutation { logout { agent { id } } }`, nil)
}

func testRequestsDoNotSignIn(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	id := w.NewConversation("maria")
	for i := 0; i < 3; i++ {
		e.Clock.Advance(10 * time.Second)
		w.SetOwner(w.Ben, id, "ben")
		w.Say(w.Ben, id, "hello")
		w.Queue(w.Ben, map[string]any{"status": "NEW"})
		w.SetOwner(w.Ben, id, "")
	}
	if m := me(t, w.Ben); m.Presence != "OFFLINE" || m.PresenceSince != Stamp(Epoch) {
		t.Fatalf("after requests: %+v; want still OFFLINE since the epoch", m)
	}
}

func testMe(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	for _, tc := range []struct {
		c    *Client
		want agentView
	}{
		{w.Ben, agentView{ID: "ben", Name: "Ben Baker", Role: "AGENT", Presence: "OFFLINE", PresenceSince: Stamp(Epoch), Active: true}},
		{w.Admin, agentView{ID: "ada", Name: "Ada Admin", Role: "ADMIN", Presence: "OFFLINE", PresenceSince: Stamp(Epoch), Active: true}},
	} {
		m := me(t, tc.c)
		if m.Email == nil || *m.Email != tc.want.ID+"@example.com" {
			t.Fatalf("me email %v", m.Email)
		}
		m.Email = nil
		if m != tc.want {
			t.Fatalf("me %+v; want %+v", m, tc.want)
		}
	}
	w.Integration.MustFail("FORBIDDEN", `{ me { id } }`, nil)
	// A token without a name: the id stands in.
	tok := sign(t, jwt.SigningMethodHS256, Secret, func() jwt.MapClaims {
		c := e.claims("ws", "nameless", "agent")
		delete(c, "name")
		delete(c, "email")
		return c
	}())
	r := e.Post(tok, `{ me { id name email } }`, nil)
	if string(r.Data) != `{"me":{"id":"nameless","name":"nameless","email":null}}` {
		t.Fatalf("a token without name or email: %s", r.Raw)
	}
}

func testTokenUpdatesAgent(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	id := w.NewConversation("maria")
	w.SetOwner(w.Ben, id, "ben")
	c := e.claims("ws", "ben", "admin")
	c["name"], c["email"] = "Benjamin Baker", "benjamin@example.org"
	ben := sign(t, jwt.SigningMethodHS256, Secret, c)
	r := e.Post(ben, `{ me { `+agentFields+` } }`, nil)
	if !strings.Contains(string(r.Data), `"name":"Benjamin Baker"`) || !strings.Contains(string(r.Data), `"email":"benjamin@example.org"`) || !strings.Contains(string(r.Data), `"role":"ADMIN"`) {
		t.Fatalf("me with a new token: %s", r.Raw)
	}
	// Everyone sees the new name, the label too.
	if c := w.Get(w.Cleo, id); c.OwnershipLabel == nil || *c.OwnershipLabel != "Waiting on Benjamin Baker" {
		t.Fatalf("label %v", c.OwnershipLabel)
	}
	var out struct{ Agents []agentView }
	w.Cleo.MustDo(`{ agents { `+agentFields+` } }`, nil, &out)
	found := false
	for _, a := range out.Agents {
		if a.ID == "ben" {
			found = a.Name == "Benjamin Baker" && a.Role == "ADMIN" && a.Email != nil && *a.Email == "benjamin@example.org"
		}
	}
	if !found {
		t.Fatalf("agents %+v; want ben renamed, admin", out.Agents)
	}
	// The old token takes it back.
	if m := me(t, w.Ben); m.Name != "Ben Baker" || m.Role != "AGENT" {
		t.Fatalf("me with the old token: %+v", m)
	}
}

func testTokenRoleDecides(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	w.UpsertAgent(map[string]any{"id": "ben", "name": "Ben Baker", "role": "ADMIN"})
	// Ben's token still says agent.
	w.Ben.MustFail("FORBIDDEN", `mutation { updateSettings(input: {removeOwnershipOnLogout: true}) { settings { removeOwnershipOnLogout } } }`, nil)
	if m := me(t, w.Ben); m.Role != "AGENT" {
		t.Fatalf("after a request with an agent token, role %s", m.Role)
	}
	// Cleo with an admin token may.
	cleo := e.Admin("ws", "cleo", "Cleo Cruz")
	cleo.MustDo(`mutation { updateSettings(input: {removeOwnershipOnLogout: true}) { settings { removeOwnershipOnLogout } } }`, nil, nil)
	if m := me(t, cleo); m.Role != "ADMIN" {
		t.Fatalf("cleo with an admin token: role %s", m.Role)
	}
}

func testAgentsList(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	w.UpsertAgent(map[string]any{"id": "zed", "name": "Aaron Zed", "role": "AGENT"})
	w.UpsertAgent(map[string]any{"id": "gone", "name": "Gone Agent", "role": "AGENT", "active": false})
	setPresence(t, w.Ben, "ONLINE")
	setPresence(t, w.Cleo, "AWAY")
	w.Integration.MustDo(`mutation($in: InboundInput!) { ingestInbound(input: $in) { duplicate } }`, inboundInput(w.ChannelID, "maria", "m1", "hi"), nil)
	list := func(args string, vars map[string]any) string {
		t.Helper()
		var out struct{ Agents []agentView }
		var decls []string
		if strings.Contains(args, "$p") {
			decls = append(decls, "$p: [Presence!]")
		}
		if strings.Contains(args, "$i") {
			decls = append(decls, "$i: Boolean")
		}
		doc := `{ agents { ` + agentFields + ` } }`
		if len(decls) > 0 {
			doc = `query(` + strings.Join(decls, ", ") + `) { agents` + args + ` { ` + agentFields + ` } }`
		}
		w.Ben.MustDo(doc, vars, &out)
		var ids []string
		for _, a := range out.Agents {
			ids = append(ids, a.ID)
		}
		return strings.Join(ids, " ")
	}
	for _, tc := range []struct {
		args string
		vars map[string]any
		want string
	}{
		{"", nil, "zed ada ben cleo"},
		{"(presence: $p)", map[string]any{"p": []string{"ONLINE"}}, "ben"},
		{"(presence: $p)", map[string]any{"p": []string{"AWAY", "ONLINE"}}, "ben cleo"},
		{"(presence: $p)", map[string]any{"p": []string{"OFFLINE"}}, "zed ada"},
		{"(presence: $p)", map[string]any{"p": []string{}}, "zed ada ben cleo"},
		{"(includeInactive: $i)", map[string]any{"i": false}, "zed ada ben cleo"},
		{"(includeInactive: $i)", map[string]any{"i": true}, "zed ada ben cleo gone"},
		{"(presence: $p, includeInactive: $i)", map[string]any{"p": []string{"OFFLINE"}, "i": true}, "zed ada gone"},
	} {
		if got := list(tc.args, tc.vars); got != tc.want {
			t.Errorf("agents%s %v: [%s]; want [%s]", tc.args, tc.vars, got, tc.want)
		}
	}
	w.Integration.MustFail("FORBIDDEN", `{ agents { id } }`, nil)
}

func testUpsertAgentAhead(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	e.Clock.Advance(time.Minute)
	var out struct{ UpsertAgent struct{ Agent agentView } }
	w.Admin.MustDo(`mutation { upsertAgent(input: {id: "dana", name: " Dana Diaz ", email: "dana@example.org", role: AGENT}) { agent { `+agentFields+` } } }`, nil, &out)
	a := out.UpsertAgent.Agent
	if a.ID != "dana" || a.Name != "Dana Diaz" || a.Email == nil || *a.Email != "dana@example.org" || a.Role != "AGENT" || !a.Active || a.Presence != "OFFLINE" || a.PresenceSince != e.Now() {
		t.Fatalf("upserted agent %+v", a)
	}
	// Assignable before the first login, and told about it then.
	id := w.NewConversation("maria")
	if c := w.SetOwner(w.Ben, id, "dana"); c.OwnershipLabel == nil || *c.OwnershipLabel != "Waiting on Dana Diaz" {
		t.Fatalf("assigned to dana: %+v", c)
	}
	dana := e.Agent("ws", "dana", "Dana D.")
	if m := me(t, dana); m.Name != "Dana D." || m.Presence != "OFFLINE" {
		t.Fatalf("dana's first request: %+v; want the token's name", m)
	}
	if m := missedOf(t, dana); len(m) != 1 || m[0].Conversation.ID != id {
		t.Fatalf("dana's missed assignments %+v", m)
	}
	// Renamed and promoted by the admin.
	w.Admin.MustDo(`mutation { upsertAgent(input: {id: "zoe", name: "Zoe", role: ADMIN}) { agent { id } } }`, nil, nil)
	var agents struct{ Agents []agentView }
	w.Ben.MustDo(`{ agents { `+agentFields+` } }`, nil, &agents)
	found := false
	for _, a := range agents.Agents {
		if a.ID == "zoe" {
			found = a.Role == "ADMIN" && a.Email == nil && a.Active
		}
	}
	if !found {
		t.Fatalf("agents %+v; want zoe, an active admin without email", agents.Agents)
	}
	w.Admin.MustDo(`mutation { upsertAgent(input: {id: "zoe", name: "Zoe Zimmer", role: AGENT}) { agent { id } } }`, nil, &out)
	w.Ben.MustDo(`{ agents { `+agentFields+` } }`, nil, &agents)
	for _, a := range agents.Agents {
		if a.ID == "zoe" && (a.Name != "Zoe Zimmer" || a.Role != "AGENT") {
			t.Fatalf("zoe after an update: %+v", a)
		}
	}
}

func testUpsertAgentValidation(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	doc := `mutation($in: AgentInput!) { upsertAgent(input: $in) { agent { id } } }`
	for _, tc := range []struct {
		in  map[string]any
		arg string
	}{
		{map[string]any{"id": "int", "name": "Integration", "role": "INTEGRATION"}, "input.role"},
		{map[string]any{"id": "dana", "name": "", "role": "AGENT"}, "input.name"},
		{map[string]any{"id": "dana", "name": "   ", "role": "AGENT"}, "input.name"},
		{map[string]any{"id": "dana", "name": strings.Repeat("n", 201), "role": "AGENT"}, "input.name"},
		{map[string]any{"id": "", "name": "Dana", "role": "AGENT"}, "input.id"},
		{map[string]any{"id": "dana", "name": "Dana", "role": "AGENT", "email": strings.Repeat("e", 321)}, "input.email"},
		{map[string]any{"id": "ada", "name": "Ada Admin", "role": "ADMIN", "active": false}, "input.active"},
		{map[string]any{"id": "ben", "name": "Ben", "role": "INTEGRATION"}, "input.role"},
	} {
		w.Admin.MustFailArg("BAD_USER_INPUT", tc.arg, doc, map[string]any{"in": tc.in})
	}
	var out struct{ Agents []agentView }
	w.Admin.MustDo(`{ agents(includeInactive: true) { `+agentFields+` } }`, nil, &out)
	var ids []string
	for _, a := range out.Agents {
		ids = append(ids, a.ID)
		if a.ID == "ben" && a.Role != "AGENT" {
			t.Errorf("ben became %s", a.Role)
		}
	}
	if strings.Join(ids, " ") != "ada ben cleo" {
		t.Fatalf("agents after refused upserts: %v", ids)
	}
	if m := me(t, w.Admin); !m.Active {
		t.Fatal("the admin deactivated themself")
	}
}

func testSettingsDefaults(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	fresh := e.Agent("ws-fresh", "someone", "Someone")
	for _, c := range []*Client{w.Ben, w.Admin, fresh} {
		r := c.MustDo(`{ settings { removeOwnershipOnLogout logoutGraceSeconds } }`, nil, nil)
		if string(r.Data) != `{"settings":{"removeOwnershipOnLogout":false,"logoutGraceSeconds":30}}` {
			t.Fatalf("%s/%s settings %s; want the defaults", c.Actor.WorkspaceID, c.Actor.ID, r.Data)
		}
	}
	w.Integration.MustFail("FORBIDDEN", `{ settings { logoutGraceSeconds } }`, nil)
}

func testUpdateSettings(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	doc := `mutation($in: SettingsInput!) { updateSettings(input: $in) { settings { removeOwnershipOnLogout logoutGraceSeconds } } }`
	for _, tc := range []struct {
		in   map[string]any
		want string
	}{
		{map[string]any{"removeOwnershipOnLogout": true}, `{"removeOwnershipOnLogout":true,"logoutGraceSeconds":30}`},
		{map[string]any{"logoutGraceSeconds": 0}, `{"removeOwnershipOnLogout":true,"logoutGraceSeconds":0}`},
		{map[string]any{"logoutGraceSeconds": 60}, `{"removeOwnershipOnLogout":true,"logoutGraceSeconds":60}`},
		{map[string]any{}, `{"removeOwnershipOnLogout":true,"logoutGraceSeconds":60}`},
		{map[string]any{"removeOwnershipOnLogout": nil, "logoutGraceSeconds": nil}, `{"removeOwnershipOnLogout":true,"logoutGraceSeconds":60}`},
		{map[string]any{"removeOwnershipOnLogout": false, "logoutGraceSeconds": 15}, `{"removeOwnershipOnLogout":false,"logoutGraceSeconds":15}`},
		{map[string]any{"removeOwnershipOnLogout": false}, `{"removeOwnershipOnLogout":false,"logoutGraceSeconds":15}`},
	} {
		r := w.Admin.MustDo(doc, map[string]any{"in": tc.in}, nil)
		if string(r.Data) != `{"updateSettings":{"settings":`+tc.want+`}}` {
			t.Fatalf("updateSettings(%v): %s; want %s", tc.in, r.Data, tc.want)
		}
		r = w.Ben.MustDo(`{ settings { removeOwnershipOnLogout logoutGraceSeconds } }`, nil, nil)
		if string(r.Data) != `{"settings":`+tc.want+`}` {
			t.Fatalf("settings as read by an agent: %s; want %s", r.Data, tc.want)
		}
	}
}

func testLogoutGraceRange(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	doc := `mutation($in: SettingsInput!) { updateSettings(input: $in) { settings { logoutGraceSeconds } } }`
	for _, g := range []int{-1, 61, 1000, -30} {
		for _, in := range []map[string]any{{"logoutGraceSeconds": g}, {"logoutGraceSeconds": g, "removeOwnershipOnLogout": true}} {
			w.Admin.MustFailArg("BAD_USER_INPUT", "input.logoutGraceSeconds", doc, map[string]any{"in": in})
		}
	}
	r := w.Ben.MustDo(`{ settings { removeOwnershipOnLogout logoutGraceSeconds } }`, nil, nil)
	if string(r.Data) != `{"settings":{"removeOwnershipOnLogout":false,"logoutGraceSeconds":30}}` {
		t.Fatalf("after refused updates: %s", r.Data)
	}
}

func testChannels(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	other := e.NewWorkspace("ws-other")
	doc := `mutation($n: String!) { createChannel(input: {name: $n}) { channel { id name autoOwnershipAgents { id } } } }`
	var out struct {
		CreateChannel struct {
			Channel struct {
				ID, Name            string
				AutoOwnershipAgents []Ref
			}
		}
	}
	w.Admin.MustDo(doc, map[string]any{"n": " Web chat "}, &out)
	if ch := out.CreateChannel.Channel; ch.ID == "" || ch.Name != "Web chat" || ch.AutoOwnershipAgents == nil || len(ch.AutoOwnershipAgents) != 0 {
		t.Fatalf("created %+v", ch)
	}
	web := out.CreateChannel.Channel.ID
	for _, name := range []string{"Email", " Email", "Web chat", "", "   ", strings.Repeat("c", 201)} {
		w.Admin.MustFailArg("BAD_USER_INPUT", "input.name", doc, map[string]any{"n": name})
	}
	w.CreateChannel("Chat")
	// Another workspace has its own names.
	other.CreateChannel("Web chat")
	var list struct{ Channels []struct{ ID, Name string } }
	w.Ben.MustDo(`{ channels { id name } }`, nil, &list)
	var names []string
	for _, c := range list.Channels {
		names = append(names, c.Name)
	}
	if strings.Join(names, "|") != "Chat|Email|Web chat" {
		t.Fatalf("channels %v; want Chat, Email, Web chat", names)
	}
	if !slices.ContainsFunc(list.Channels, func(c struct{ ID, Name string }) bool { return c.ID == web }) {
		t.Fatalf("channels %+v lack %s", list.Channels, web)
	}
	w.Integration.MustFail("FORBIDDEN", `{ channels { id } }`, nil)
}

func testSetAutoOwnershipAdmin(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	doc := `mutation($in: AutoOwnershipInput!) { setAutoOwnership(input: $in) { channel { id name autoOwnershipAgents { id name } } } }`
	set := func(agent string, on bool) []string {
		t.Helper()
		var out struct {
			SetAutoOwnership struct {
				Channel struct {
					ID                  string
					AutoOwnershipAgents []struct{ ID, Name string }
				}
			}
		}
		w.Admin.MustDo(doc, map[string]any{"in": map[string]any{"channelId": w.ChannelID, "agentId": agent, "enabled": on}}, &out)
		if out.SetAutoOwnership.Channel.ID != w.ChannelID {
			t.Fatalf("setAutoOwnership answered channel %s", out.SetAutoOwnership.Channel.ID)
		}
		var ids []string
		for _, a := range out.SetAutoOwnership.Channel.AutoOwnershipAgents {
			ids = append(ids, a.ID)
		}
		slices.Sort(ids)
		return ids
	}
	for _, step := range []struct {
		agent string
		on    bool
		want  string
	}{
		{"ben", true, "ben"},
		{"ben", true, "ben"},
		{"cleo", true, "ben cleo"},
		{"ada", true, "ada ben cleo"},
		{"ben", false, "ada cleo"},
		{"ben", false, "ada cleo"},
	} {
		if got := strings.Join(set(step.agent, step.on), " "); got != step.want {
			t.Fatalf("setAutoOwnership(%s, %v): [%s]; want [%s]", step.agent, step.on, got, step.want)
		}
	}
	var list struct {
		Channels []struct {
			AutoOwnershipAgents []struct{ ID string }
		}
	}
	w.Ben.MustDo(`{ channels { autoOwnershipAgents { id } } }`, nil, &list)
	if len(list.Channels) != 1 || len(list.Channels[0].AutoOwnershipAgents) != 2 {
		t.Fatalf("channels %+v", list.Channels)
	}
	for _, ch := range []string{"ch_unknown", ""} {
		r := w.Admin.MustFail("NOT_FOUND", doc, map[string]any{"in": map[string]any{"channelId": ch, "agentId": "ben", "enabled": true}})
		assertNoLeak(t, r)
	}
	for _, agent := range []string{"nobody", "connector", ""} {
		for _, on := range []bool{true, false} {
			w.Admin.MustFailArg("BAD_USER_INPUT", "input.agentId", doc, map[string]any{"in": map[string]any{"channelId": w.ChannelID, "agentId": agent, "enabled": on}})
		}
	}
	if got := strings.Join(set("cleo", true), " "); got != "ada cleo" {
		t.Fatalf("after refused calls: [%s]", got)
	}
}

// claims are a test token's claims, valid for an hour of e's clock.
func (e *Env) claims(ws, sub, role string) jwt.MapClaims {
	now := e.Clock.Now()
	return jwt.MapClaims{
		"sub": sub, "workspace_id": ws, "role": role, "name": "Crafted " + sub, "email": sub + "@example.com",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
}

func sign(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
