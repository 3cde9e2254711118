package apitest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"switchboard/feed"
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

func testQueueCountsStoreCalls(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws-counts")
	e.Agent(w.ID, "dana", "Dana Diaz").MustDo(`{ me { id } }`, nil, nil)
	chat := w.CreateChannel("Chat")
	owners := []string{"", "ben", "cleo", "dana"}
	measure := func() (map[string]int, int) {
		var out struct {
			QueueCounts struct {
				Total   int
				ByOwner []struct{ Count int }
			}
		}
		e.Store.Reset()
		w.Ben.MustDo(`{ queueCounts(status: NEW) { total unowned ownedByMe ownedByOthers byOwner { count owner { id name presence } } } }`, nil, &out)
		return e.Store.Calls()
	}
	seed := func(from, to int) {
		for i := from; i < to; i++ {
			ch := w.ChannelID
			if i%2 == 1 {
				ch = chat
			}
			id := w.InboundOn(ch, fmt.Sprintf("contact-%03d", i), fmt.Sprintf("m-%03d", i), "hello").ConversationID
			if o := owners[i%len(owners)]; o != "" {
				w.SetOwner(w.Admin, id, o)
			}
		}
	}
	seed(0, 8)
	few, fewTotal := measure()
	seed(8, 60)
	many, manyTotal := measure()
	t.Logf("store calls of queueCounts at 8 conversations: %d %v; at 60: %d %v", fewTotal, few, manyTotal, many)
	if manyTotal != fewTotal {
		t.Errorf("queueCounts costs %d store calls at 60 conversations, %d at 8: calls grow with the queue", manyTotal, fewTotal)
	}
	// Authentication, the counts per owner, and one batch of owners.
	if manyTotal > 3 || many["CountOwners"] != 1 {
		t.Errorf("queueCounts costs %d store calls %v, want at most 3 with one CountOwners", manyTotal, many)
	}
}

// bulkReleaseSize is how many conversations the bulk release tests give
// one agent: more than one page of a release. On a test server whose
// queries scan collections (FerretDB, see DESIGN.md), fewer: one page.
func bulkReleaseSize(f Factory) int {
	if !f.Atomic {
		return 40
	}
	return 300
}

// ownsMany gives Ben n NEW conversations, through the API.
func ownsMany(w *Workspace, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = w.NewConversation(fmt.Sprintf("contact-%03d", i))
		w.SetOwner(w.Admin, ids[i], "ben")
	}
	return ids
}

// wantBulkWrites checks that releasing n conversations took a few batch
// writes and no single ones, within total store calls.
func wantBulkWrites(t *testing.T, what string, calls map[string]int, total, n int) {
	t.Helper()
	t.Logf("store calls of %s of %d conversations: %d %v", what, n, total, calls)
	if calls["UpdateConversation"] != 0 || calls["UpdateConversations"] == 0 || calls["UpdateConversations"] > 2 {
		t.Errorf("%s of %d conversations wrote them in %d single and %d batch calls, want 0 and 1 or 2",
			what, n, calls["UpdateConversation"], calls["UpdateConversations"])
	}
	if total > 16 {
		t.Errorf("%s of %d conversations costs %d store calls %v, want at most 16", what, n, total, calls)
	}
}

func testCleanupStoreCalls(t *testing.T, f Factory) {
	e := NewEnv(t, f) // no background jobs: the test runs the cleanup itself
	w := e.NewWorkspace("ws-cleanup-calls")
	w.Admin.MustDo(`mutation { updateSettings(input: {removeOwnershipOnLogout: true, logoutGraceSeconds: 0}) { settings { logoutGraceSeconds } } }`, nil, nil)
	w.SetPresence(w.Ben, "ONLINE")
	ids := ownsMany(w, bulkReleaseSize(f))
	logout(w.Ben)
	sub := e.Feed.Subscribe(w.ID, 2*len(ids))
	defer sub.Close()
	e.Store.Reset()
	n, err := e.Service.RunLogoutCleanup(context.Background(), w.ID, "ben")
	calls, total := e.Store.Calls()
	if err != nil || n != len(ids) {
		t.Fatalf("the cleanup released %d (%v), want %d", n, err, len(ids))
	}
	wantBulkWrites(t, "a logout cleanup", calls, total, len(ids))
	for _, id := range []string{ids[0], ids[len(ids)/2], ids[len(ids)-1]} {
		h := w.History(w.Admin, id)
		if last := h[len(h)-1]; last.Reason != "LOGOUT_CLEANUP" || countReason(h, "LOGOUT_CLEANUP") != 1 {
			t.Errorf("%s: history %+v, want one LOGOUT_CLEANUP entry, the last", id, h)
		}
	}
	wantReleaseEvents(t, sub, ids, "LOGOUT_CLEANUP")
}

func testDeactivationStoreCalls(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws-deactivate-calls")
	w.SetPresence(w.Ben, "ONLINE")
	ids := ownsMany(w, bulkReleaseSize(f))
	sub := e.Feed.Subscribe(w.ID, 2*len(ids))
	defer sub.Close()
	e.Store.Reset()
	w.Deactivate("ben", "Ben")
	calls, total := e.Store.Calls()
	wantBulkWrites(t, "a deactivation", calls, total, len(ids))
	for _, id := range []string{ids[0], ids[len(ids)-1]} {
		if c := w.Get(w.Admin, id); c.OwnerID() != "" {
			t.Errorf("%s is still owned by %s", id, c.OwnerID())
		}
	}
	wantReleaseEvents(t, sub, ids, "MANUAL")
}

// wantReleaseEvents waits (with a generous ceiling) for one ownership
// change event per conversation of ids, to no owner for reason, as each
// single write publishes it.
func wantReleaseEvents(t *testing.T, sub *feed.Subscription, ids []string, reason string) {
	t.Helper()
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	seen := map[string]int{}
	ceiling := time.After(60 * time.Second)
	for len(seen) < len(want) {
		select {
		case ev := <-sub.Events():
			c := ev.Conversation
			if c == nil || c.Change == nil || !want[c.After.ID] {
				continue
			}
			if string(c.Change.Reason) != reason || c.After.OwnerID != "" || c.Before == nil || c.Before.OwnerID != "ben" ||
				c.After.Version != c.Before.Version+1 || c.Change.Version != c.After.Version {
				t.Fatalf("event of %s: %+v, want a release from ben for %s", c.After.ID, c, reason)
			}
			seen[c.After.ID]++
			if seen[c.After.ID] > 1 {
				t.Fatalf("two release events for %s", c.After.ID)
			}
		case <-sub.Done():
			t.Fatalf("the subscription ended: %v", sub.Err())
		case <-ceiling:
			t.Fatalf("after 60 s, release events for %d of %d conversations", len(seen), len(want))
		}
	}
}
