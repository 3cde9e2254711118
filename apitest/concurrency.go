package apitest

import (
	"fmt"
	"sync"
	"testing"
)

// fiftyAgents provisions 50 agents in w and returns their clients.
func fiftyAgents(t *testing.T, e *Env, w *Workspace) []*Client {
	t.Helper()
	agents := make([]*Client, 50)
	for i := range agents {
		agents[i] = e.Agent(w.ID, fmt.Sprintf("agent-%02d", i), fmt.Sprintf("Agent %02d", i))
		agents[i].MustDo(`{ me { id } }`, nil, nil)
	}
	return agents
}

// race has every agent take conversation id at once with extra input, and
// checks that exactly one won, every other got CONFLICT with the current
// version, and the history holds one entry.
func race(t *testing.T, e *Env, w *Workspace, agents []*Client, id string, extra map[string]any) {
	t.Helper()
	start := make(chan struct{})
	results := make([]*Response, len(agents))
	var wg sync.WaitGroup
	for i, a := range agents {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in := map[string]any{"conversationId": id, "ownerId": a.Actor.ID}
			for k, v := range extra {
				in[k] = v
			}
			<-start
			results[i] = a.Do(`mutation($in: SetOwnerInput!) { setOwner(input: $in) { conversation { owner { id } version } } }`,
				map[string]any{"in": in})
		}()
	}
	close(start)
	wg.Wait()
	winners := 0
	var winner string
	for i, r := range results {
		switch r.Code() {
		case "":
			winners++
			winner = agents[i].Actor.ID
		case "CONFLICT":
			if _, ok := r.Errors[0].Extensions["currentVersion"]; !ok {
				t.Errorf("CONFLICT without currentVersion: %s", r.Raw)
			}
		default:
			t.Errorf("agent %d: want success or CONFLICT, got %s", i, r.Raw)
		}
	}
	if winners != 1 {
		t.Fatalf("want exactly one winner, got %d", winners)
	}
	var out struct {
		Conversation struct {
			Version int
			Owner   struct{ ID string }
			History struct {
				Edges []struct {
					Node struct{ To struct{ ID string } }
				}
			}
		}
	}
	w.Admin.MustDo(`query($id: ID!) { conversation(id: $id) { version owner { id } history { edges { node { to { id } } } } } }`,
		map[string]any{"id": id}, &out)
	c := out.Conversation
	if c.Owner.ID != winner || len(c.History.Edges) != 1 || c.History.Edges[0].Node.To.ID != winner || c.Version != 2 {
		t.Fatalf("after the race: owner %q, version %d, history %+v; want owner %q, version 2, one entry", c.Owner.ID, c.Version, c.History.Edges, winner)
	}
}

func testRaceOnlyIfUnowned(t *testing.T, f Factory) {
	if !f.Atomic {
		t.Skip("this store's test server does not make conditional updates atomic under concurrency; the race runs on SQLite and on a real MongoDB")
	}
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws-race")
	agents := fiftyAgents(t, e, w)
	race(t, e, w, agents, w.NewConversation("racer"), map[string]any{"onlyIfUnowned": true})
}

func testRaceExpectedVersion(t *testing.T, f Factory) {
	if !f.Atomic {
		t.Skip("this store's test server does not make conditional updates atomic under concurrency; the race runs on SQLite and on a real MongoDB")
	}
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws-race")
	agents := fiftyAgents(t, e, w)
	id := w.NewConversation("racer")
	race(t, e, w, agents, id, map[string]any{"expectedVersion": w.Get(w.Admin, id).Version})
}

func testConcurrentFirstMessages(t *testing.T, f Factory) {
	if !f.Atomic {
		t.Skip("this store's test server does not make conditional updates atomic under concurrency; the race runs on SQLite and on a real MongoDB")
	}
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws-first")
	start := make(chan struct{})
	results := make([]Inbound, 20)
	var wg sync.WaitGroup
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i] = w.Inbound("new-contact", fmt.Sprintf("m-%d", i), fmt.Sprintf("message %d", i))
		}()
	}
	close(start)
	wg.Wait()
	for _, r := range results {
		if r.ConversationID != results[0].ConversationID || r.Duplicate {
			t.Fatalf("want one conversation and no duplicates, got %+v", results)
		}
	}
	var out struct {
		Queue struct{ TotalCount int }
		Conv  struct {
			Version  int
			Messages struct {
				Edges []struct{ Node struct{ Text string } }
			}
		}
	}
	w.Ben.MustDo(`query($id: ID!) { queue(status: NEW) { totalCount } conv: conversation(id: $id) { version messages(first: 100) { edges { node { text } } } } }`,
		map[string]any{"id": results[0].ConversationID}, &out)
	if out.Queue.TotalCount != 1 || len(out.Conv.Messages.Edges) != 20 || out.Conv.Version != 20 {
		t.Fatalf("want 1 conversation with 20 messages at version 20, got %d conversations, %d messages, version %d",
			out.Queue.TotalCount, len(out.Conv.Messages.Edges), out.Conv.Version)
	}
}
