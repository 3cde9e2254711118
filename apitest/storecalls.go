package apitest

import (
	"fmt"
	"testing"
)

// QueuePageQuery is the query a queue view makes: rows with their owner,
// label, channel and contact, and the count.
const QueuePageQuery = `query($first: Int) {
  queue(status: NEW, first: $first) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { id status version waitingSince ownershipLabel
      owner { id name presence } channel { id name } contact { id name externalId } } }
  }
}`

// QueuePageCalls seeds 120 NEW conversations over two channels, most of them
// owned by one of three agents, and returns the store calls of one queue page
// of each size.
func QueuePageCalls(t testing.TB, f Factory, sizes ...int) map[int]map[string]int {
	tt, ok := t.(*testing.T)
	if !ok {
		t.Fatal("QueuePageCalls needs a *testing.T")
	}
	e := NewEnv(tt, f)
	w := e.NewWorkspace("ws-calls")
	dana := e.Agent(w.ID, "dana", "Dana Diaz")
	dana.MustDo(`{ me { id } }`, nil, nil)
	chat := w.CreateChannel("Chat")
	owners := []string{"", "ben", "cleo", "dana"}
	for i := 0; i < 120; i++ {
		ch := w.ChannelID
		if i%2 == 1 {
			ch = chat
		}
		id := w.InboundOn(ch, fmt.Sprintf("contact-%03d", i), fmt.Sprintf("m-%03d", i), "hello").ConversationID
		if o := owners[i%len(owners)]; o != "" {
			w.SetOwner(w.Admin, id, o)
		}
		e.Clock.Advance(1000)
	}
	out := map[int]map[string]int{}
	for _, n := range sizes {
		var page struct {
			Queue struct {
				TotalCount int
				Edges      []struct {
					Node struct{ Channel, Contact struct{ ID string } }
				}
			}
		}
		e.Store.Reset()
		w.Ben.MustDo(QueuePageQuery, map[string]any{"first": n}, &page)
		calls, _ := e.Store.Calls()
		if len(page.Queue.Edges) != n || page.Queue.TotalCount != 120 {
			t.Fatalf("page of %d: got %d rows of %d", n, len(page.Queue.Edges), page.Queue.TotalCount)
		}
		out[n] = calls
	}
	return out
}

func testQueuePageStoreCalls(t *testing.T, f Factory) {
	calls := QueuePageCalls(t, f, 25, 100)
	total := func(m map[string]int) (n int) {
		for _, v := range m {
			n += v
		}
		return n
	}
	t.Logf("store calls for a page of 25: %d %v; of 100: %d %v", total(calls[25]), calls[25], total(calls[100]), calls[100])
	if total(calls[25]) != total(calls[100]) {
		t.Errorf("a page of 100 costs %d store calls, a page of 25 costs %d: calls grow with the page", total(calls[100]), total(calls[25]))
	}
	// Authentication (the caller's agent), the page, the count, and one
	// batch each of owners, channels and contacts.
	if total(calls[100]) > 6 {
		t.Errorf("a page of 100 costs %d store calls %v, want at most 6", total(calls[100]), calls[100])
	}
	for _, m := range []string{"AgentsByIDs", "ChannelsByIDs", "ContactsByIDs"} {
		if calls[100][m] > 2 {
			t.Errorf("%s called %d times for one page", m, calls[100][m])
		}
	}
}
