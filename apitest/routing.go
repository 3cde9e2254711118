package apitest

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"
)

// waitUntil polls the API, up to a generous ceiling, until cond holds.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type routingAgent struct {
	ID       string
	Capacity int
	Load     int
}

func (w *Workspace) routingAgents(c *Client) map[string]routingAgent {
	w.env.T.Helper()
	var out struct{ Agents []routingAgent }
	c.MustDo(`{ agents { id capacity load } }`, nil, &out)
	m := map[string]routingAgent{}
	for _, a := range out.Agents {
		m[a.ID] = a
	}
	return m
}

func testRoutingOverTheAPI(t *testing.T, f Factory) {
	e := NewEnv(t, f, WithJobs())
	w := e.NewWorkspace("ws")
	var st struct {
		Settings struct {
			Routing struct {
				Mode                               string
				DefaultCapacity, UnansweredSeconds int
				PreferLastOwner                    bool
			}
		}
	}
	w.Ben.MustDo(`{ settings { routing { mode defaultCapacity unansweredSeconds preferLastOwner } } }`, nil, &st)
	if r := st.Settings.Routing; r.Mode != "OFF" || r.DefaultCapacity != 5 || r.UnansweredSeconds != 0 || !r.PreferLastOwner {
		t.Fatalf("default routing settings %+v", r)
	}
	w.SetPresence(w.Ben, "ONLINE")
	var ch struct {
		SetRoutingAgent struct {
			Channel struct{ RoutingAgents []struct{ ID string } }
		}
	}
	w.Admin.MustDo(`mutation($ch: ID!) { setRoutingAgent(input: {channelId: $ch, agentId: "ben", enabled: true}) { channel { routingAgents { id } } } }`,
		map[string]any{"ch": w.ChannelID}, &ch)
	if a := ch.SetRoutingAgent.Channel.RoutingAgents; len(a) != 1 || a[0].ID != "ben" {
		t.Fatalf("routingAgents %+v", a)
	}
	w.Admin.MustDo(`mutation { updateSettings(input: {routing: {mode: BALANCED, defaultCapacity: 2}}) { settings { routing { mode } } } }`, nil, nil)
	ids := []string{w.NewConversation("a"), w.NewConversation("b"), w.NewConversation("c")}
	waitUntil(t, "ben holds two", func() bool { return w.routingAgents(w.Admin)["ben"].Load == 2 })
	if a := w.routingAgents(w.Admin)["ben"]; a.Capacity != 2 {
		t.Fatalf("ben %+v, want capacity 2", a)
	}
	if got := w.Get(w.Ben, ids[0]).OwnerID(); got != "ben" {
		t.Fatalf("the longest waiting is owned by %q", got)
	}
	if got := w.Get(w.Ben, ids[2]).OwnerID(); got != "" {
		t.Fatalf("the third is owned by %q, above capacity", got)
	}
	h := w.History(w.Admin, ids[0])
	if len(h) != 1 || h[0].Reason != "ROUTING" || h[0].Actor != "" || h[0].To != "ben" {
		t.Fatalf("history %+v, want one ROUTING by the system", h)
	}
	// Ben's own capacity grows: the third follows.
	w.Admin.MustDo(`mutation { upsertAgent(input: {id: "ben", name: "Ben Baker", role: AGENT, capacity: 3}) { agent { capacity } } }`, nil, nil)
	waitUntil(t, "ben gets the third", func() bool { return w.Get(w.Ben, ids[2]).OwnerID() == "ben" })
	// Null returns to the workspace default.
	var up struct{ UpsertAgent struct{ Agent routingAgent } }
	w.Admin.MustDo(`mutation { upsertAgent(input: {id: "ben", name: "Ben Baker", role: AGENT, capacity: null}) { agent { id capacity load } } }`, nil, &up)
	if a := up.UpsertAgent.Agent; a.Capacity != 2 || a.Load != 3 {
		t.Fatalf("after capacity null: %+v, want capacity 2, load 3 (a lower capacity takes nothing back)", a)
	}
	// An admin sets ben AWAY: routing gives him nothing more, though he has
	// room again.
	w.Admin.MustDo(`mutation { setAgentPresence(agentId: "ben", presence: AWAY) { agent { presence } } }`, nil, nil)
	w.Move(w.Ben, "resolve", ids[0])
	w.Move(w.Ben, "resolve", ids[1])
	d := w.NewConversation("d")
	var me struct{ Me struct{ Presence string } }
	w.Ben.MustDo(`{ me { presence } }`, nil, &me)
	if me.Me.Presence != "AWAY" {
		t.Fatalf("ben is %s", me.Me.Presence)
	}
	if n, err := e.Service.FillWorkspace(context.Background(), "ws"); err != nil || n != 0 {
		t.Fatalf("a fill pass while ben is away routed %d, %v", n, err)
	}
	if got := w.Get(w.Ben, d).OwnerID(); got != "" {
		t.Fatalf("routed to %q while away", got)
	}
	// Back ONLINE: it comes to him.
	w.Admin.MustDo(`mutation { setAgentPresence(agentId: "ben", presence: ONLINE) { agent { presence } } }`, nil, nil)
	waitUntil(t, "ben gets the fourth", func() bool { return w.Get(w.Ben, d).OwnerID() == "ben" })
}

func testRoutingLoadIsOneCountPerRequest(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	for i := range 3 {
		w.SetOwner(w.Admin, w.NewConversation(fmt.Sprint("c-", i)), "cleo")
	}
	e.Store.Reset()
	got := w.routingAgents(w.Admin)
	if got["cleo"].Load != 3 || got["ben"].Load != 0 || got["cleo"].Capacity != 5 {
		t.Fatalf("agents %+v", got)
	}
	calls, _ := e.Store.Calls()
	if calls["CountOwners"] != 1 || calls["GetSettings"] > 1 {
		t.Fatalf("store calls %v, want one CountOwners and at most one GetSettings for all agents", calls)
	}
}

func testRoutingBadInput(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	other := e.NewWorkspace("other")
	settings := `mutation($r: RoutingSettingsInput!) { updateSettings(input: {routing: $r}) { settings { logoutGraceSeconds } } }`
	for _, tc := range []struct {
		in  map[string]any
		arg string
	}{
		{map[string]any{"defaultCapacity": 0}, "input.routing.defaultCapacity"},
		{map[string]any{"defaultCapacity": 101}, "input.routing.defaultCapacity"},
		{map[string]any{"unansweredSeconds": 4}, "input.routing.unansweredSeconds"},
		{map[string]any{"unansweredSeconds": 86401}, "input.routing.unansweredSeconds"},
	} {
		w.Admin.MustFailArg("BAD_USER_INPUT", tc.arg, settings, map[string]any{"r": tc.in})
	}
	for _, c := range []int{0, 101} {
		w.Admin.MustFailArg("BAD_USER_INPUT", "input.capacity",
			`mutation($c: Int) { upsertAgent(input: {id: "ben", name: "Ben", role: AGENT, capacity: $c}) { agent { id } } }`, map[string]any{"c": c})
	}
	set := `mutation($ch: ID!, $ag: ID!) { setRoutingAgent(input: {channelId: $ch, agentId: $ag, enabled: true}) { channel { id } } }`
	w.Admin.MustFail("NOT_FOUND", set, map[string]any{"ch": other.ChannelID, "ag": "ben"})
	w.Admin.MustFail("NOT_FOUND", set, map[string]any{"ch": w.ChannelID, "ag": "nobody"})
	w.Deactivate("cleo", "Cleo Cruz")
	w.Admin.MustFailArg("BAD_USER_INPUT", "input.agentId", set, map[string]any{"ch": w.ChannelID, "ag": "cleo"})
	w.Admin.MustFail("NOT_FOUND", `mutation { setAgentPresence(agentId: "nobody", presence: ONLINE) { agent { id } } }`, nil)
	// Another workspace's agent of the same id is that workspace's.
	other.Admin.MustDo(`mutation { setAgentPresence(agentId: "ben", presence: ONLINE) { agent { id } } }`, nil, nil)
	var me struct{ Me struct{ Presence string } }
	w.Ben.MustDo(`{ me { presence } }`, nil, &me)
	if me.Me.Presence != "OFFLINE" {
		t.Fatalf("another workspace's admin changed ben's presence to %s", me.Me.Presence)
	}
}

// testRoutingRace: fifty first messages at once (distinct contacts) to five
// agents of capacity three route exactly fifteen. Routing only adds load
// here (nothing is resolved or released), so an agent's final load bounds
// every load they had: each conversation has at most one ROUTING entry in
// its history, and each agent's entries are their final load, at most 3.
// This holds on FerretDB too: one instance's router is serial behind the
// workspace's lease, whatever the store's atomicity.
func testRoutingRace(t *testing.T, f Factory) {
	e := NewEnv(t, f, WithJobs())
	w := e.NewWorkspace("ws")
	var agents []*Client
	for i := range 5 {
		a := e.Agent(w.ID, fmt.Sprint("ag-", i), fmt.Sprint("Agent ", i))
		w.SetPresence(a, "ONLINE")
		w.Admin.MustDo(`mutation($ch: ID!, $ag: ID!) { setRoutingAgent(input: {channelId: $ch, agentId: $ag, enabled: true}) { channel { id } } }`,
			map[string]any{"ch": w.ChannelID, "ag": a.Actor.ID}, nil)
		agents = append(agents, a)
	}
	w.Admin.MustDo(`mutation { updateSettings(input: {routing: {mode: BALANCED, defaultCapacity: 3}}) { settings { routing { mode } } } }`, nil, nil)
	start := make(chan struct{})
	ids := make([]string, 50)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			var out struct{ IngestInbound Inbound }
			r := w.Integration.Do(inboundMutation, map[string]any{"in": map[string]any{
				"channelId": w.ChannelID, "contactExternalId": fmt.Sprint("c-", i), "externalMessageId": fmt.Sprint("m-", i), "text": "hi",
			}})
			if r.Code() != "" {
				t.Errorf("inbound %d: %s", i, r.Raw)
				return
			}
			if err := json.Unmarshal(r.Data, &out); err != nil {
				t.Error(err)
			}
			ids[i] = out.IngestInbound.ConversationID
		}()
	}
	close(start)
	wg.Wait()
	total := func() int {
		n := 0
		for _, a := range w.routingAgents(w.Admin) {
			n += a.Load
		}
		return n
	}
	waitUntil(t, "fifteen are routed", func() bool { return total() >= 15 })
	if n, err := e.Service.FillWorkspace(context.Background(), "ws"); err != nil || n != 0 {
		t.Fatalf("a last fill pass routed %d more, %v", n, err)
	}
	routed := map[string]int{}
	for _, id := range ids {
		n := 0
		for _, h := range w.History(w.Admin, id) {
			if h.Reason == "ROUTING" {
				n++
				routed[h.To]++
			}
		}
		if n > 1 {
			t.Errorf("%s routed %d times", id, n)
		}
	}
	loads := w.routingAgents(w.Admin)
	for _, a := range agents {
		id := a.Actor.ID
		if routed[id] != 3 || loads[id].Load != 3 {
			t.Errorf("%s: %d routed, load %d; want 3 and 3", id, routed[id], loads[id].Load)
		}
	}
}
