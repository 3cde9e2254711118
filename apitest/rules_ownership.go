package apitest

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// Rules of ownership: setOwner, onlyIfUnowned, expectedVersion, the
// history, labels, auto-ownership, missed assignments and deactivation.

func testSetOwnerAssigns(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	id := w.NewConversation("maria")
	e.Clock.Advance(time.Minute)
	p := w.Assign(w.Cleo, id, "ben")
	c := p.Conversation
	if c.OwnerID() != "ben" || c.Version != 2 || c.Status != "NEW" || c.OwnedSince == nil || *c.OwnedSince != e.Now() ||
		c.WaitingSince != Stamp(Epoch) || c.OwnershipLabel == nil || *c.OwnershipLabel != "Waiting on Ben Baker" {
		t.Fatalf("assigned: %+v; want owner ben since %s at version 2, waitingSince unchanged", c, e.Now())
	}
	want := Entry{Version: 2, Status: "NEW", From: "", To: "ben", Actor: "cleo", Reason: "MANUAL", At: e.Now()}
	if p.OwnershipChange == nil || p.OwnershipChange.Entry() != want {
		t.Fatalf("payload change %+v; want %v", p.OwnershipChange, want)
	}
	if oc := p.OwnershipChange; oc.ID == "" || oc.Conversation == nil || oc.Conversation.ID != id || oc.Conversation.Version != 2 {
		t.Fatalf("payload change id %q conversation %+v", oc.ID, oc.Conversation)
	}
	if h := w.History(w.Admin, id); len(h) != 1 || h[0] != want {
		t.Fatalf("history %v; want [%v]", h, want)
	}
	if got := w.Get(w.Admin, id); !sameConversation(got, c) {
		t.Fatalf("re-read %+v; want %+v", got, c)
	}
}

func testSetOwnerReassignUnassign(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	id := w.NewConversation("maria")
	w.Assign(w.Ben, id, "ben")
	t1 := e.Now()
	e.Clock.Advance(time.Second)
	p := w.Assign(w.Admin, id, "cleo")
	t2 := e.Now()
	if p.Conversation.OwnerID() != "cleo" || p.Conversation.OwnedSince == nil || *p.Conversation.OwnedSince != t2 {
		t.Fatalf("reassigned: %+v; want cleo since %s", p.Conversation, t2)
	}
	e.Clock.Advance(time.Second)
	p = w.Assign(w.Cleo, id, "")
	t3 := e.Now()
	if c := p.Conversation; c.OwnerID() != "" || c.OwnedSince != nil || c.OwnershipLabel != nil || c.Version != 4 || c.Status != "NEW" {
		t.Fatalf("unassigned: %+v; want unowned NEW at version 4", c)
	}
	want := []Entry{
		{Version: 2, Status: "NEW", To: "ben", Actor: "ben", Reason: "MANUAL", At: t1},
		{Version: 3, Status: "NEW", From: "ben", To: "cleo", Actor: "ada", Reason: "MANUAL", At: t2},
		{Version: 4, Status: "NEW", From: "cleo", Actor: "cleo", Reason: "MANUAL", At: t3},
	}
	if p.OwnershipChange == nil || p.OwnershipChange.Entry() != want[2] {
		t.Fatalf("payload change %+v; want %v", p.OwnershipChange, want[2])
	}
	if h := w.History(w.Ben, id); !equalEntries(h, want) {
		t.Fatalf("history %v; want %v", h, want)
	}
}

func equalEntries(a, b []Entry) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func testSetOwnerMissingOwner(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	id := w.NewConversation("maria")
	w.SetOwner(w.Ben, id, "ben")
	w.Ben.MustFailArg("BAD_USER_INPUT", "input.ownerId", MutationDoc("setOwner"), map[string]any{"in": map[string]any{"conversationId": id}})
	w.Ben.MustFailArg("BAD_USER_INPUT", "input.ownerId", `mutation($id: ID!) { setOwner(input: {conversationId: $id}) { conversation { id } } }`, map[string]any{"id": id})
	if c := w.Get(w.Ben, id); c.OwnerID() != "ben" || c.Version != 2 {
		t.Fatalf("after refused setOwner: %+v", c)
	}
	// An explicit null in the document is Unowned.
	var out struct {
		SetOwner struct{ Conversation Conversation }
	}
	w.Ben.MustDo(`mutation($id: ID!) { setOwner(input: {conversationId: $id, ownerId: null}) { conversation { `+ConversationFields+` } } }`, map[string]any{"id": id}, &out)
	if out.SetOwner.Conversation.OwnerID() != "" || out.SetOwner.Conversation.Version != 3 {
		t.Fatalf("ownerId: null: %+v; want unowned at version 3", out.SetOwner.Conversation)
	}
}

func testSetOwnerBadOwner(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	e.NewWorkspace("ws-other")
	e.Agent("ws-other", "dana", "Dana Diaz").MustDo(`{ me { id } }`, nil, nil)
	w.UpsertAgent(map[string]any{"id": "gone", "name": "Gone Agent", "role": "AGENT", "active": false})
	id := w.NewConversation("maria")
	w.SetOwner(w.Ben, id, "cleo")
	for _, owner := range []string{"nobody", "", "dana", "gone", "connector", "BEN"} {
		for _, extra := range []map[string]any{{}, {"onlyIfUnowned": true}, {"expectedVersion": 2}} {
			in := map[string]any{"conversationId": id, "ownerId": owner}
			for k, v := range extra {
				in[k] = v
			}
			r := w.Ben.MustFailArg("BAD_USER_INPUT", "input.ownerId", MutationDoc("setOwner"), map[string]any{"in": in})
			assertNoLeak(t, r)
		}
	}
	if c := w.Get(w.Ben, id); c.OwnerID() != "cleo" || c.Version != 2 {
		t.Fatalf("after refused setOwner: %+v", c)
	}
	if h := w.History(w.Ben, id); len(h) != 1 {
		t.Fatalf("history %v", h)
	}
}

func testSetOwnerResolved(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	id := w.NewConversation("maria")
	w.Move(w.Ben, "resolve", id)
	for _, in := range []map[string]any{
		{"conversationId": id, "ownerId": "ben"},
		{"conversationId": id, "ownerId": "cleo", "onlyIfUnowned": true},
		{"conversationId": id, "ownerId": "cleo", "expectedVersion": 2},
	} {
		w.Ben.MustFailArg("BAD_USER_INPUT", "input.ownerId", MutationDoc("setOwner"), map[string]any{"in": in})
	}
	if c := w.Get(w.Ben, id); c.Status != "RESOLVED" || c.OwnerID() != "" || c.Version != 2 {
		t.Fatalf("after refused setOwner: %+v", c)
	}
	// Unowned is what it is: a no-op.
	if p := w.Assign(w.Ben, id, ""); p.Conversation.Version != 2 || p.OwnershipChange != nil {
		t.Fatalf("setOwner(null) on RESOLVED: %+v %+v; want a no-op", p.Conversation, p.OwnershipChange)
	}
}

func testSetOwnerNoOp(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	id := w.NewConversation("maria")
	w.SetOwner(w.Ben, id, "ben")
	w.Say(w.Ben, id, "hello") // v3
	before := w.Get(w.Ben, id)
	e.Clock.Advance(time.Minute)
	for _, extra := range []map[string]any{{}, {"expectedVersion": 1}, {"expectedVersion": 2}, {"expectedVersion": 3}, {"onlyIfUnowned": true}} {
		in := map[string]any{"conversationId": id, "ownerId": "ben"}
		for k, v := range extra {
			in[k] = v
		}
		p := w.Mutate(w.Cleo, "setOwner", in)
		if !sameConversation(p.Conversation, before) || p.OwnershipChange != nil {
			t.Fatalf("setOwner to the owner it has %v: %+v change %+v; want unchanged", extra, p.Conversation, p.OwnershipChange)
		}
	}
	unowned := w.NewConversation("paul")
	for _, extra := range []map[string]any{{}, {"expectedVersion": 7}} {
		in := map[string]any{"conversationId": unowned, "ownerId": nil}
		for k, v := range extra {
			in[k] = v
		}
		if p := w.Mutate(w.Cleo, "setOwner", in); p.Conversation.Version != 1 || p.OwnershipChange != nil {
			t.Fatalf("setOwner(null) on unowned %v: %+v; want a no-op", extra, p.Conversation)
		}
	}
	if h := w.History(w.Ben, id); len(h) != 1 {
		t.Fatalf("history %v; want one entry", h)
	}
	if h := w.History(w.Ben, unowned); len(h) != 0 {
		t.Fatalf("history %v; want none", h)
	}
}

func testSetOwnerConflict(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	id := w.NewConversation("maria")
	w.Inbound("maria", "m2", "are you there?") // v2: messages count
	r := w.Ben.MustFail("CONFLICT", MutationDoc("setOwner"), map[string]any{"in": map[string]any{"conversationId": id, "ownerId": "ben", "expectedVersion": 1}})
	if v, ok := r.CurrentVersion(); !ok || v != 2 {
		t.Fatalf("currentVersion %v %v; want 2: %s", v, ok, r.Raw)
	}
	if c := w.Get(w.Ben, id); c.OwnerID() != "" || c.Version != 2 {
		t.Fatalf("after CONFLICT: %+v", c)
	}
	// With the version it was told, it goes through.
	p := w.Mutate(w.Ben, "setOwner", map[string]any{"conversationId": id, "ownerId": "ben", "expectedVersion": 2})
	if p.Conversation.OwnerID() != "ben" || p.Conversation.Version != 3 {
		t.Fatalf("retry with currentVersion: %+v", p.Conversation)
	}
	// A version from the future is stale too.
	r = w.Cleo.MustFail("CONFLICT", MutationDoc("setOwner"), map[string]any{"in": map[string]any{"conversationId": id, "ownerId": "cleo", "expectedVersion": 9}})
	if v, ok := r.CurrentVersion(); !ok || v != 3 {
		t.Fatalf("currentVersion %v %v; want 3: %s", v, ok, r.Raw)
	}
}

func testOnlyIfUnowned(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	id := w.NewConversation("maria")
	p := w.Mutate(w.Ben, "setOwner", map[string]any{"conversationId": id, "ownerId": "ben", "onlyIfUnowned": true})
	want := Entry{Version: 2, Status: "NEW", To: "ben", Actor: "ben", Reason: "MANUAL", At: e.Now()}
	if p.Conversation.OwnerID() != "ben" || p.OwnershipChange == nil || p.OwnershipChange.Entry() != want {
		t.Fatalf("onlyIfUnowned on unowned: %+v %+v; want %v", p.Conversation, p.OwnershipChange, want)
	}
	// Owned now: Cleo's take (for herself, or for someone else, or to
	// clear it) is CONFLICT with the current version.
	for _, owner := range []any{"cleo", "ada", nil} {
		r := w.Cleo.MustFail("CONFLICT", MutationDoc("setOwner"), map[string]any{"in": map[string]any{"conversationId": id, "ownerId": owner, "onlyIfUnowned": true}})
		if v, ok := r.CurrentVersion(); !ok || v != 2 {
			t.Fatalf("onlyIfUnowned %v on owned: currentVersion %v %v; want 2: %s", owner, v, ok, r.Raw)
		}
	}
	if c := w.Get(w.Ben, id); c.OwnerID() != "ben" || c.Version != 2 {
		t.Fatalf("after lost takes: %+v", c)
	}
	// Released, it can be taken again.
	w.SetOwner(w.Ben, id, "")
	p = w.Mutate(w.Cleo, "setOwner", map[string]any{"conversationId": id, "ownerId": "cleo", "onlyIfUnowned": true, "expectedVersion": 3})
	if p.Conversation.OwnerID() != "cleo" || p.Conversation.Version != 4 {
		t.Fatalf("take after release: %+v", p.Conversation)
	}
	if h := w.History(w.Ben, id); len(h) != 3 {
		t.Fatalf("history %v; want 3 entries", h)
	}
}

func testOwnershipLabel(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	id := w.NewConversation("maria")
	label := func() string {
		c := w.Get(w.Cleo, id)
		if c.OwnershipLabel == nil {
			return "<null>"
		}
		return *c.OwnershipLabel
	}
	steps := []struct {
		do   func()
		want string
	}{
		{func() {}, "<null>"},
		{func() { w.SetOwner(w.Cleo, id, "ben") }, "Waiting on Ben Baker"},
		{func() { w.Move(w.Cleo, "moveToPending", id) }, "Owned by Ben Baker"},
		{func() { w.SetOwner(w.Cleo, id, "") }, "<null>"},
		{func() { w.SetOwner(w.Cleo, id, "ada") }, "Owned by Ada Admin"},
		{func() { w.Move(w.Cleo, "moveToNew", id) }, "Waiting on Ada Admin"},
		// The label follows the owner's name as their token sets it.
		{func() { e.Admin("ws", "ada", "Ada Lovelace").MustDo(`{ me { id } }`, nil, nil) }, "Waiting on Ada Lovelace"},
		{func() { w.Move(w.Cleo, "resolve", id) }, "<null>"},
		{func() { w.Move(w.Cleo, "moveToNew", id) }, "<null>"},
	}
	for i, s := range steps {
		s.do()
		if got := label(); got != s.want {
			t.Fatalf("step %d: label %q; want %q", i, got, s.want)
		}
	}
	// The queue rows carry the same labels.
	w.SetOwner(w.Cleo, id, "cleo")
	page := w.Queue(w.Ben, map[string]any{"status": "NEW"})
	if len(page.Edges) != 1 || page.Edges[0].Node.OwnershipLabel == nil || *page.Edges[0].Node.OwnershipLabel != "Waiting on Cleo Cruz" {
		t.Fatalf("queue row %+v; want label Waiting on Cleo Cruz", page.Edges)
	}
}

func testHistoryPaging(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	id := w.NewConversation("maria")
	var want []Entry
	step := func(actor *Client, do func(), e2 Entry) {
		e.Clock.Advance(time.Second)
		do()
		if e2.Reason != "" {
			e2.At = e.Now()
			want = append(want, e2)
		}
		_ = actor
	}
	step(w.Ben, func() { w.SetOwner(w.Ben, id, "ben") }, Entry{Version: 2, Status: "NEW", To: "ben", Actor: "ben", Reason: "MANUAL"})
	step(w.Cleo, func() { w.SetOwner(w.Cleo, id, "cleo") }, Entry{Version: 3, Status: "NEW", From: "ben", To: "cleo", Actor: "cleo", Reason: "MANUAL"})
	step(w.Cleo, func() { w.Move(w.Cleo, "moveToPending", id) }, Entry{})
	step(w.Admin, func() { w.SetOwner(w.Admin, id, "") }, Entry{Version: 5, Status: "PENDING", From: "cleo", Actor: "ada", Reason: "MANUAL"})
	step(w.Admin, func() { w.SetOwner(w.Admin, id, "ben") }, Entry{Version: 6, Status: "PENDING", To: "ben", Actor: "ada", Reason: "MANUAL"})
	step(w.Cleo, func() { w.Say(w.Cleo, id, "hi") }, Entry{})
	step(w.Cleo, func() { w.Move(w.Cleo, "resolve", id) }, Entry{Version: 8, Status: "RESOLVED", From: "ben", Actor: "cleo", Reason: "RESOLVED"})
	step(w.Ben, func() { w.Move(w.Ben, "moveToNew", id) }, Entry{})
	step(w.Ben, func() { w.SetOwner(w.Ben, id, "cleo") }, Entry{Version: 10, Status: "NEW", To: "cleo", Actor: "ben", Reason: "MANUAL"})

	if h := w.History(w.Ben, id); !equalEntries(h, want) {
		t.Fatalf("history\n got %v\nwant %v", h, want)
	}
	// Pages of two: no entry repeated or skipped.
	var got []Entry
	var after any
	for page := 0; ; page++ {
		var out struct {
			Conversation struct {
				History struct {
					Edges []struct {
						Cursor string
						Node   Change
					}
					PageInfo struct {
						HasNextPage, HasPreviousPage bool
						EndCursor                    *string
					}
				}
			}
		}
		w.Ben.MustDo(`query($id: ID!, $after: String) { conversation(id: $id) { history(first: 2, after: $after) {
			edges { cursor node { `+ChangeFields+` } } pageInfo { hasNextPage hasPreviousPage endCursor } } } }`,
			map[string]any{"id": id, "after": after}, &out)
		h := out.Conversation.History
		for _, e := range h.Edges {
			got = append(got, e.Node.Entry())
		}
		if h.PageInfo.HasPreviousPage != (page > 0) {
			t.Fatalf("page %d: hasPreviousPage %v", page, h.PageInfo.HasPreviousPage)
		}
		if !h.PageInfo.HasNextPage {
			if page != 2 || len(h.Edges) != 2 {
				t.Fatalf("last page is page %d with %d entries; want page 2 with 2", page, len(h.Edges))
			}
			break
		}
		if len(h.Edges) != 2 || h.PageInfo.EndCursor == nil || *h.PageInfo.EndCursor != h.Edges[1].Cursor {
			t.Fatalf("page %d: %d entries, endCursor %v", page, len(h.Edges), h.PageInfo.EndCursor)
		}
		after = *h.PageInfo.EndCursor
		if page > 3 {
			t.Fatal("history paging does not end")
		}
	}
	if !equalEntries(got, want) {
		t.Fatalf("paged history\n got %v\nwant %v", got, want)
	}
	w.Ben.MustFailArg("BAD_USER_INPUT", "after", `query($id: ID!) { conversation(id: $id) { history(after: "garbage") { edges { cursor } } } }`, map[string]any{"id": id})
}

// historyPage is one page of history as the API answers it.
type historyPage struct {
	Entries  []Entry
	Cursors  []string
	PageInfo struct {
		HasNextPage, HasPreviousPage bool
		StartCursor, EndCursor       *string
	}
}

// readHistory reads a page of conversation id's history as c, with the
// paging arguments in args (first, after, last, before) passed as
// variables; an argument not in args is not written at all.
func readHistory(c *Client, id string, args map[string]any) historyPage {
	c.env.T.Helper()
	types := map[string]string{"first": "Int", "last": "Int", "after": "String", "before": "String"}
	decls, params := "", []string{}
	vars := map[string]any{"id": id}
	for _, k := range []string{"first", "after", "last", "before"} {
		if v, ok := args[k]; ok {
			decls += ", $" + k + ": " + types[k]
			params = append(params, k+": $"+k)
			vars[k] = v
		}
	}
	field := "history"
	if len(params) > 0 {
		field += "(" + strings.Join(params, ", ") + ")"
	}
	var out struct {
		Conversation struct {
			History struct {
				Edges []struct {
					Cursor string
					Node   Change
				}
				PageInfo struct {
					HasNextPage, HasPreviousPage bool
					StartCursor, EndCursor       *string
				}
			}
		}
	}
	c.MustDo(`query($id: ID!`+decls+`) { conversation(id: $id) { `+field+` {
		edges { cursor node { `+ChangeFields+` } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } } }`, vars, &out)
	h := out.Conversation.History
	p := historyPage{PageInfo: h.PageInfo}
	for _, e := range h.Edges {
		p.Entries = append(p.Entries, e.Node.Entry())
		p.Cursors = append(p.Cursors, e.Cursor)
	}
	if n := len(h.Edges); n > 0 && (h.PageInfo.StartCursor == nil || *h.PageInfo.StartCursor != p.Cursors[0] ||
		h.PageInfo.EndCursor == nil || *h.PageInfo.EndCursor != p.Cursors[n-1]) {
		c.env.T.Fatalf("%s: startCursor %v and endCursor %v are not the first and last edges' cursors %v", field, h.PageInfo.StartCursor, h.PageInfo.EndCursor, p.Cursors)
	}
	if len(h.Edges) == 0 && (h.PageInfo.StartCursor != nil || h.PageInfo.EndCursor != nil) {
		c.env.T.Fatalf("%s: an empty page with cursors %+v", field, h.PageInfo)
	}
	return p
}

func testHistoryFromTheNewest(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	id := w.NewConversation("maria")
	// 60 changes, more than the default page of 50: ben, cleo, ben, …,
	// at versions 2 to 61; cleo owns it now.
	const changes = 60
	for i := range changes {
		e.Clock.Advance(time.Second)
		w.SetOwner(w.Admin, id, []string{"ben", "cleo"}[i%2])
	}
	all := readHistory(w.Ben, id, map[string]any{"first": 100})
	if len(all.Entries) != changes || all.Entries[0].Version != 2 || all.Entries[changes-1].Version != changes+1 ||
		all.Entries[changes-1].To != "cleo" || w.Get(w.Ben, id).OwnerID() != "cleo" {
		t.Fatalf("the whole history: %d entries %v", len(all.Entries), all.Entries)
	}
	type info struct{ prev, next bool }
	check := func(what string, p historyPage, from, to int, want info) {
		t.Helper()
		if !equalEntries(p.Entries, all.Entries[from:to]) || !slices.Equal(p.Cursors, all.Cursors[from:to]) {
			t.Fatalf("%s:\n got %v\nwant entries %d to %d: %v", what, p.Entries, from, to-1, all.Entries[from:to])
		}
		if got := (info{p.PageInfo.HasPreviousPage, p.PageInfo.HasNextPage}); got != want {
			t.Fatalf("%s: hasPreviousPage, hasNextPage %v; want %v", what, got, want)
		}
	}

	// The default page is the oldest 50: it ends before the latest owner.
	check("the default page", readHistory(w.Ben, id, nil), 0, 50, info{false, true})
	// last: 5 is the newest five, oldest first, with the same cursors as
	// the pages from the oldest end.
	newest := readHistory(w.Ben, id, map[string]any{"last": 5})
	check("last: 5", newest, changes-5, changes, info{true, false})

	// before walks back to the first change; the oldest page is a full page
	// of five with nothing before it.
	var walked []Entry
	before := newest
	for page := 1; ; page++ {
		walked = append(slices.Clone(before.Entries), walked...)
		if !before.PageInfo.HasPreviousPage {
			if page != changes/5 || len(before.Entries) != 5 {
				t.Fatalf("the oldest page is page %d with %d entries; want page %d with 5", page, len(before.Entries), changes/5)
			}
			break
		}
		if page > changes {
			t.Fatal("paging back does not end")
		}
		before = readHistory(w.Ben, id, map[string]any{"last": 5, "before": *before.PageInfo.StartCursor})
		from := changes - 5*(page+1)
		check(fmt.Sprintf("page %d back", page+1), before, from, from+5, info{from > 0, true})
	}
	if !equalEntries(walked, all.Entries) {
		t.Fatalf("walked back\n got %v\nwant %v", walked, all.Entries)
	}

	// Cursors work in either direction, whichever direction gave them.
	fwd := readHistory(w.Ben, id, map[string]any{"first": 10})
	check("first: 10", fwd, 0, 10, info{false, true})
	check("last: 3 before the end of first: 10", readHistory(w.Ben, id, map[string]any{"last": 3, "before": *fwd.PageInfo.EndCursor}), 6, 9, info{true, true})
	check("last: 20 before the end of first: 10", readHistory(w.Ben, id, map[string]any{"last": 20, "before": *fwd.PageInfo.EndCursor}), 0, 9, info{false, true})
	check("first: 2 after the start of last: 5", readHistory(w.Ben, id, map[string]any{"first": 2, "after": *newest.PageInfo.StartCursor}), changes-4, changes-2, info{true, true})
	check("first: 10 after the start of last: 5", readHistory(w.Ben, id, map[string]any{"first": 10, "after": *newest.PageInfo.StartCursor}), changes-4, changes, info{true, false})
	tenth, fourteenth := all.Cursors[9], all.Cursors[13]
	check("first: 10 between two cursors", readHistory(w.Ben, id, map[string]any{"first": 10, "after": tenth, "before": fourteenth}), 10, 13, info{true, false})
	check("last: 10 between two cursors", readHistory(w.Ben, id, map[string]any{"last": 10, "after": tenth, "before": fourteenth}), 10, 13, info{false, true})
	check("last: 0", readHistory(w.Ben, id, map[string]any{"last": 0}), 0, 0, info{false, false})
	check("last: 100", readHistory(w.Ben, id, map[string]any{"last": 100}), 0, changes, info{false, false})

	// first has a default: only a first the client gives is first and last
	// together.
	check("first: null, last: 5", readHistory(w.Ben, id, map[string]any{"first": nil, "last": 5}), changes-5, changes, info{true, false})
	q := `query($id: ID!, $first: Int, $last: Int) { conversation(id: $id) { history(first: $first, last: $last) { edges { cursor } } } }`
	if r := w.Ben.MustDo(q, map[string]any{"id": id, "last": 5}, nil); strings.Count(string(r.Data), `"cursor"`) != 5 {
		t.Fatalf("an unset $first with last: 5: %s", r.Data)
	}
	w.Ben.MustFailArg("BAD_USER_INPUT", "first", q, map[string]any{"id": id, "first": 50, "last": 5})
	w.Ben.MustFailArg("BAD_USER_INPUT", "first", `query($id: ID!) { conversation(id: $id) { history(first: 2, last: 2) { edges { cursor } } } }`, map[string]any{"id": id})

	// Cursors are checked: garbage, and a cursor of messages.
	var msgs struct {
		Conversation struct {
			Messages struct{ Edges []struct{ Cursor string } }
		}
	}
	w.Ben.MustDo(`query($id: ID!) { conversation(id: $id) { messages(last: 1) { edges { cursor } } } }`, map[string]any{"id": id}, &msgs)
	for _, bad := range []string{"garbage", msgs.Conversation.Messages.Edges[0].Cursor} {
		w.Ben.MustFailArg("BAD_USER_INPUT", "before", `query($id: ID!, $c: String) { conversation(id: $id) { history(last: 5, before: $c) { edges { cursor } } } }`,
			map[string]any{"id": id, "c": bad})
	}

	// A conversation without history is empty from either end.
	empty := w.NewConversation("noor")
	check("last: 5 of no history", readHistory(w.Ben, empty, map[string]any{"last": 5}), 0, 0, info{false, false})
	check("no history, from the oldest end", readHistory(w.Ben, empty, nil), 0, 0, info{false, false})
}

func testAutoOwnership(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	w.SetAutoOwnership(w.ChannelID, "ben", true)
	id := w.NewConversation("maria")
	e.Clock.Advance(time.Minute)
	p := w.Say(w.Ben, id, "I'll take this")
	c := p.Conversation
	if c.OwnerID() != "ben" || c.Status != "NEW" || c.Version != 2 || c.WaitingSince != Stamp(Epoch) ||
		c.OwnershipLabel == nil || *c.OwnershipLabel != "Waiting on Ben Baker" || c.OwnedSince == nil || *c.OwnedSince != e.Now() {
		t.Fatalf("after an auto-owning reply: %+v; want owner ben at version 2, still NEW since the epoch", c)
	}
	want := Entry{Version: 2, Status: "NEW", To: "ben", Actor: "ben", Reason: "AUTO_OWNERSHIP", At: e.Now()}
	if p.OwnershipChange == nil || p.OwnershipChange.Entry() != want {
		t.Fatalf("reply change %+v; want %v", p.OwnershipChange, want)
	}
	if h := w.History(w.Cleo, id); !equalEntries(h, []Entry{want}) {
		t.Fatalf("history %v; want [%v]", h, want)
	}
	if p.Message == nil || p.Message.Text != "I'll take this" || p.Message.Author == nil || p.Message.Author.ID != "ben" {
		t.Fatalf("reply message %+v", p.Message)
	}
	// A second reply changes no ownership.
	p = w.Say(w.Ben, id, "more")
	if p.OwnershipChange != nil || p.Conversation.Version != 3 {
		t.Fatalf("a second reply: %+v change %+v", p.Conversation, p.OwnershipChange)
	}
	// On PENDING too.
	id2 := w.NewConversation("paul")
	w.Move(w.Cleo, "moveToPending", id2)
	p = w.Say(w.Ben, id2, "hello")
	if p.Conversation.OwnerID() != "ben" || p.Conversation.Status != "PENDING" || p.OwnershipChange == nil || p.OwnershipChange.Reason != "AUTO_OWNERSHIP" || p.OwnershipChange.Status != "PENDING" {
		t.Fatalf("auto-ownership on PENDING: %+v %+v", p.Conversation, p.OwnershipChange)
	}
}

func testAutoOwnershipOwned(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	w.SetAutoOwnership(w.ChannelID, "ben", true)
	id := w.NewConversation("maria")
	w.SetOwner(w.Cleo, id, "cleo")
	p := w.Say(w.Ben, id, "hi")
	if p.Conversation.OwnerID() != "cleo" || p.OwnershipChange != nil || p.Conversation.Version != 3 {
		t.Fatalf("an owned conversation after another's reply: %+v change %+v; want cleo at version 3", p.Conversation, p.OwnershipChange)
	}
	if h := w.History(w.Ben, id); len(h) != 1 {
		t.Fatalf("history %v; want only cleo's assignment", h)
	}
}

func testAutoOwnershipScope(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	chat := w.CreateChannel("Chat")
	w.SetAutoOwnership(w.ChannelID, "ben", true)
	onChat := w.InboundOn(chat, "maria", "c1", "hi").ConversationID
	if p := w.Say(w.Ben, onChat, "hi"); p.Conversation.OwnerID() != "" || p.OwnershipChange != nil {
		t.Fatalf("auto-ownership on another channel: %+v", p.Conversation)
	}
	onEmail := w.NewConversation("paul")
	if p := w.Say(w.Cleo, onEmail, "hi"); p.Conversation.OwnerID() != "" || p.OwnershipChange != nil {
		t.Fatalf("auto-ownership for another agent: %+v", p.Conversation)
	}
	w.SetAutoOwnership(w.ChannelID, "ben", false)
	if p := w.Say(w.Ben, onEmail, "hi"); p.Conversation.OwnerID() != "" || p.OwnershipChange != nil {
		t.Fatalf("auto-ownership switched off: %+v", p.Conversation)
	}
	// Switched on for the admin, on Chat.
	w.SetAutoOwnership(chat, "ada", true)
	if p := w.Say(w.Admin, onChat, "mine"); p.Conversation.OwnerID() != "ada" || p.OwnershipChange == nil || p.OwnershipChange.Reason != "AUTO_OWNERSHIP" {
		t.Fatalf("auto-ownership of the admin on Chat: %+v %+v", p.Conversation, p.OwnershipChange)
	}
}

func testAutoOwnershipThenMove(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	w.SetAutoOwnership(w.ChannelID, "ben", true)

	// Unowned + auto-ownership + RESOLVED: owned and resolved in one step,
	// which leaves no owner and no history.
	a := w.NewConversation("a")
	e.Clock.Advance(time.Minute)
	p := w.Reply(w.Ben, map[string]any{"conversationId": a, "text": "done", "thenMoveTo": "RESOLVED"})
	if c := p.Conversation; c.Status != "RESOLVED" || c.OwnerID() != "" || c.Version != 2 || c.WaitingSince != e.Now() || p.OwnershipChange != nil {
		t.Fatalf("auto-owned then resolved: %+v change %+v; want RESOLVED, unowned, version 2, no change", c, p.OwnershipChange)
	}
	if h := w.History(w.Ben, a); len(h) != 0 {
		t.Fatalf("history %v; want none", h)
	}

	// Unowned + auto-ownership + PENDING: one version, owned by ben,
	// one AUTO_OWNERSHIP entry whose status is PENDING.
	b := w.NewConversation("b")
	p = w.Reply(w.Ben, map[string]any{"conversationId": b, "text": "waiting for you", "thenMoveTo": "PENDING"})
	want := Entry{Version: 2, Status: "PENDING", To: "ben", Actor: "ben", Reason: "AUTO_OWNERSHIP", At: e.Now()}
	if c := p.Conversation; c.Status != "PENDING" || c.OwnerID() != "ben" || c.Version != 2 || p.OwnershipChange == nil || p.OwnershipChange.Entry() != want {
		t.Fatalf("auto-owned then pending: %+v change %+v; want %v", c, p.OwnershipChange, want)
	}
	if h := w.History(w.Ben, b); !equalEntries(h, []Entry{want}) {
		t.Fatalf("history %v; want [%v]", h, want)
	}

	// Owned by cleo + RESOLVED by ben: the owner is cleared (RESOLVED), ben
	// never owned it.
	c := w.NewConversation("c")
	w.SetOwner(w.Cleo, c, "cleo")
	p = w.Reply(w.Ben, map[string]any{"conversationId": c, "text": "solved", "thenMoveTo": "RESOLVED"})
	want = Entry{Version: 3, Status: "RESOLVED", From: "cleo", Actor: "ben", Reason: "RESOLVED", At: e.Now()}
	if conv := p.Conversation; conv.Status != "RESOLVED" || conv.OwnerID() != "" || conv.Version != 3 || p.OwnershipChange == nil || p.OwnershipChange.Entry() != want {
		t.Fatalf("owned then resolved by a reply: %+v change %+v; want %v", conv, p.OwnershipChange, want)
	}
	if h := w.History(w.Ben, c); len(h) != 2 || h[1] != want {
		t.Fatalf("history %v; want the assignment and %v", h, want)
	}
}

// missedQuery selects the caller's missed assignments.
const missedQuery = `{ missedAssignments { conversation { id version owner { id } } change { ` + ChangeFields + ` } } }`

type missed struct {
	Conversation struct {
		ID      string
		Version int
		Owner   *Ref
	}
	Change Change
}

func missedOf(t *testing.T, c *Client) []missed {
	t.Helper()
	var out struct{ MissedAssignments []missed }
	c.MustDo(missedQuery, nil, &out)
	return out.MissedAssignments
}

func acknowledge(t *testing.T, c *Client, ids ...string) int {
	t.Helper()
	if ids == nil {
		ids = []string{}
	}
	var out struct{ AcknowledgeMissedAssignments int }
	c.MustDo(`mutation($ids: [ID!]!) { acknowledgeMissedAssignments(conversationIds: $ids) }`, map[string]any{"ids": ids}, &out)
	return out.AcknowledgeMissedAssignments
}

func testMissedAssignments(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	a := w.NewConversation("a")
	b := w.NewConversation("b")
	// Ben has never signed in: OFFLINE.
	w.SetOwner(w.Admin, a, "ben")
	atA := e.Now()
	e.Clock.Advance(time.Minute)
	w.SetOwner(w.Cleo, b, "ben")
	w.Move(w.Cleo, "moveToPending", b) // still owned, still missed
	atB := e.Now()
	check := func(want ...Entry) {
		t.Helper()
		got := missedOf(t, w.Ben)
		if len(got) != len(want) {
			t.Fatalf("missed assignments %+v; want %v", got, want)
		}
		for i := range got {
			if got[i].Change.Entry() != want[i] || got[i].Conversation.Owner == nil || got[i].Conversation.Owner.ID != "ben" {
				t.Fatalf("missed assignment %d: %+v %v; want %v", i, got[i].Conversation, got[i].Change.Entry(), want[i])
			}
		}
	}
	wantA := Entry{Version: 2, Status: "NEW", To: "ben", Actor: "ada", Reason: "MANUAL", At: atA}
	wantB := Entry{Version: 2, Status: "NEW", To: "ben", Actor: "cleo", Reason: "MANUAL", At: atB}
	check(wantA, wantB)
	// Signing in does not clear them: they are what the agent is told.
	w.SetPresence(w.Ben, "ONLINE")
	check(wantA, wantB)
	// Nobody else sees Ben's.
	if m := missedOf(t, w.Cleo); len(m) != 0 {
		t.Fatalf("cleo's missed assignments %+v", m)
	}
	if n := acknowledge(t, w.Ben, a); n != 1 {
		t.Fatalf("acknowledging a: %d; want 1", n)
	}
	check(wantB)
	if n := acknowledge(t, w.Ben, a, b); n != 1 {
		t.Fatalf("acknowledging a and b: %d; want 1", n)
	}
	check()
	// Offline again, and assigned again: missed again.
	w.Ben.MustDo(`mutation { logout { agent { presence } } }`, nil, nil)
	c := w.NewConversation("c")
	w.SetOwner(w.Admin, c, "ben")
	check(Entry{Version: 2, Status: "NEW", To: "ben", Actor: "ada", Reason: "MANUAL", At: e.Now()})
}

func testNotMissed(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	a := w.NewConversation("a")
	b := w.NewConversation("b")
	c := w.NewConversation("c")
	// Ben takes one while OFFLINE: he knows.
	w.SetOwner(w.Ben, a, "ben")
	w.SetAutoOwnership(w.ChannelID, "ben", true)
	w.Say(w.Ben, c, "mine") // auto-ownership while OFFLINE: he knows too
	w.SetPresence(w.Ben, "ONLINE")
	w.SetOwner(w.Admin, b, "ben")
	w.SetPresence(w.Ben, "AWAY")
	d := w.NewConversation("d")
	w.SetOwner(w.Admin, d, "ben")
	if m := missedOf(t, w.Ben); len(m) != 0 {
		t.Fatalf("missed assignments %+v; want none", m)
	}
	if n := acknowledge(t, w.Ben, a, b, c, d); n != 0 {
		t.Fatalf("acknowledged %d; want 0", n)
	}
}

func testMissedStillOwned(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	a := w.NewConversation("a")
	b := w.NewConversation("b")
	c := w.NewConversation("c")
	d := w.NewConversation("d")
	for _, id := range []string{a, b, c, d} {
		w.SetOwner(w.Admin, id, "ben")
	}
	w.SetOwner(w.Admin, a, "cleo") // taken away
	w.Move(w.Admin, "resolve", b)  // resolved
	w.SetOwner(w.Admin, c, "")     // released...
	w.SetOwner(w.Admin, c, "ben")  // ...and assigned again: one entry, the latest
	latest := w.Get(w.Admin, c).Version
	m := missedOf(t, w.Ben)
	if len(m) != 2 {
		t.Fatalf("missed assignments %+v; want c and d", m)
	}
	ids := map[string]int{}
	for _, x := range m {
		ids[x.Conversation.ID] = x.Change.Version
	}
	if v, ok := ids[c]; !ok || v != latest {
		t.Fatalf("missed %v; want c with the assignment at version %d", ids, latest)
	}
	if _, ok := ids[d]; !ok {
		t.Fatalf("missed %v; want d", ids)
	}
	// Cleo was OFFLINE when she got a: hers.
	if m := missedOf(t, w.Cleo); len(m) != 1 || m[0].Conversation.ID != a {
		t.Fatalf("cleo's missed assignments %+v; want a", m)
	}
}

func testAcknowledgeCounts(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	a := w.NewConversation("a")
	b := w.NewConversation("b")
	cleos := w.NewConversation("c")
	w.SetOwner(w.Admin, a, "ben")
	w.SetOwner(w.Admin, b, "ben")
	w.SetOwner(w.Admin, cleos, "cleo")
	if n := acknowledge(t, w.Ben); n != 0 {
		t.Fatalf("acknowledging nothing: %d", n)
	}
	if n := acknowledge(t, w.Ben, "cv_unknown", cleos, a, a); n != 1 {
		t.Fatalf("acknowledging unknown, someone else's, and a twice: %d; want 1", n)
	}
	if n := acknowledge(t, w.Ben, a); n != 0 {
		t.Fatalf("acknowledging a again: %d; want 0", n)
	}
	if n := acknowledge(t, w.Ben, a, b); n != 1 {
		t.Fatalf("acknowledging a and b: %d; want 1", n)
	}
	// A new assignment of an acknowledged conversation is missed anew.
	w.SetOwner(w.Admin, a, "")
	w.SetOwner(w.Admin, a, "ben")
	if m := missedOf(t, w.Ben); len(m) != 1 || m[0].Conversation.ID != a || m[0].Change.Version != 4 {
		t.Fatalf("after a new assignment of a: %+v; want a at version 4", m)
	}
	if n := acknowledge(t, w.Ben, a); n != 1 {
		t.Fatalf("acknowledging the new assignment: %d; want 1", n)
	}
	if m := missedOf(t, w.Cleo); len(m) != 1 {
		t.Fatalf("cleo's missed assignment was acknowledged by ben: %+v", m)
	}
	many := make([]string, 1001)
	for i := range many {
		many[i] = fmt.Sprintf("cv_%d", i)
	}
	w.Ben.MustFailArg("BAD_USER_INPUT", "conversationIds", `mutation($ids: [ID!]!) { acknowledgeMissedAssignments(conversationIds: $ids) }`, map[string]any{"ids": many})
	w.Integration.MustFail("FORBIDDEN", `mutation($ids: [ID!]!) { acknowledgeMissedAssignments(conversationIds: $ids) }`, map[string]any{"ids": []string{a}})
}

func testDeactivatedForbidden(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	id := w.NewConversation("maria")
	w.Deactivate("ben", "Ben Baker")
	for _, doc := range []string{`{ me { id } }`, `mutation { setPresence(presence: ONLINE) { agent { id } } }`, `{ __typename }`} {
		for _, accept := range []string{mediaJSON, mediaResponse} {
			r := e.postAs(w.Ben.Token, accept, doc, nil)
			expectHTTP(t, "a deactivated agent's "+doc, r, http.StatusForbidden, accept, "FORBIDDEN")
			expectNoData(t, "a deactivated agent", r)
		}
	}
	r := e.get(w.Ben.Token, "", map[string][]string{"query": {`{ me { id } }`}})
	expectHTTP(t, "a deactivated agent's GET", r, http.StatusForbidden, mediaJSON, "FORBIDDEN")
	// A fresh token with an admin role does not let them in either.
	r = e.Admin("ws", "ben", "Ben Baker").Do(`mutation($id: ID!) { resolve(input: {conversationId: $id}) { conversation { id } } }`, map[string]any{"id": id})
	if r.Status != http.StatusForbidden || r.Code() != "FORBIDDEN" {
		t.Fatalf("a deactivated agent with an admin token: HTTP %d %s", r.Status, r.Raw)
	}
	if c := w.Get(w.Cleo, id); c.Status != "NEW" {
		t.Fatalf("a deactivated agent resolved %+v", c)
	}
}

func testDeactivationReleases(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	newID := w.NewConversation("new")
	pendingID := w.NewConversation("pending")
	cleosID := w.NewConversation("cleos")
	resolvedID := w.NewConversation("resolved")
	w.SetOwner(w.Ben, newID, "ben")
	w.SetOwner(w.Ben, pendingID, "ben")
	w.Move(w.Ben, "moveToPending", pendingID)
	w.SetOwner(w.Ben, cleosID, "cleo")
	w.SetOwner(w.Ben, resolvedID, "ben")
	w.Move(w.Ben, "resolve", resolvedID)
	w.SetPresence(w.Ben, "ONLINE")
	e.Clock.Advance(time.Minute)

	var out struct {
		UpsertAgent struct {
			Agent struct {
				ID, Presence, PresenceSince string
				Active                      bool
			}
		}
	}
	w.Admin.MustDo(`mutation { upsertAgent(input: {id: "ben", name: "Ben Baker", role: AGENT, active: false}) { agent { id active presence presenceSince } } }`, nil, &out)
	if a := out.UpsertAgent.Agent; a.Active || a.Presence != "OFFLINE" || a.PresenceSince != e.Now() {
		t.Fatalf("deactivated agent %+v; want inactive, OFFLINE since %s", a, e.Now())
	}
	for id, status := range map[string]string{newID: "NEW", pendingID: "PENDING"} {
		c := w.Get(w.Cleo, id)
		if c.OwnerID() != "" || c.Status != status {
			t.Fatalf("%s conversation of a deactivated agent: %+v; want unowned, still %s", status, c, status)
		}
		h := w.History(w.Cleo, id)
		want := Entry{Version: c.Version, Status: status, From: "ben", Actor: "ada", Reason: "MANUAL", At: e.Now()}
		if len(h) == 0 || h[len(h)-1] != want {
			t.Fatalf("history %v; want last %v", h, want)
		}
	}
	if c := w.Get(w.Cleo, cleosID); c.OwnerID() != "cleo" || c.Version != 2 {
		t.Fatalf("someone else's conversation: %+v", c)
	}
	if c := w.Get(w.Cleo, resolvedID); c.Status != "RESOLVED" || c.Version != 3 {
		t.Fatalf("a resolved conversation: %+v", c)
	}
	var agents struct {
		Active, All []struct {
			ID, Presence string
			Active       bool
		}
	}
	w.Cleo.MustDo(`{ active: agents { id presence active } all: agents(includeInactive: true) { id presence active } }`, nil, &agents)
	for _, a := range agents.Active {
		if a.ID == "ben" {
			t.Fatalf("agents lists the deactivated agent: %+v", agents.Active)
		}
	}
	found := false
	for _, a := range agents.All {
		if a.ID == "ben" {
			found = a.Presence == "OFFLINE" && !a.Active
		}
	}
	if !found || len(agents.All) != len(agents.Active)+1 {
		t.Fatalf("agents(includeInactive) %+v; want everyone and ben inactive and OFFLINE", agents.All)
	}
	var counts struct{ QueueCounts struct{ Unowned, Total int } }
	w.Cleo.MustDo(`{ queueCounts(status: NEW) { total unowned } }`, nil, &counts)
	if counts.QueueCounts.Unowned != 1 || counts.QueueCounts.Total != 2 {
		t.Fatalf("NEW counts %+v; want 2 with 1 unowned", counts.QueueCounts)
	}
}

func testDeactivatedNotOwner(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	w.SetAutoOwnership(w.ChannelID, "ben", true)
	id := w.NewConversation("maria")
	w.Deactivate("ben", "Ben Baker")
	w.Cleo.MustFailArg("BAD_USER_INPUT", "input.ownerId", MutationDoc("setOwner"), map[string]any{"in": map[string]any{"conversationId": id, "ownerId": "ben"}})
	w.Admin.MustFailArg("BAD_USER_INPUT", "input.agentId", `mutation($in: AutoOwnershipInput!) { setAutoOwnership(input: $in) { channel { id } } }`,
		map[string]any{"in": map[string]any{"channelId": w.ChannelID, "agentId": "ben", "enabled": true}})
	var out struct {
		Channels []struct {
			ID                  string
			AutoOwnershipAgents []Ref
		}
	}
	w.Cleo.MustDo(`{ channels { id autoOwnershipAgents { id } } }`, nil, &out)
	if len(out.Channels) != 1 || len(out.Channels[0].AutoOwnershipAgents) != 0 {
		t.Fatalf("channels %+v; want no auto-ownership agent listed for the deactivated ben", out.Channels)
	}
	var q struct {
		Queue struct {
			Edges []struct{ Node struct{ Owner *Ref } }
		}
	}
	w.Cleo.MustDo(`query($ids: [ID!]) { queue(status: NEW, ownership: {ownerIds: $ids}) { edges { node { owner { id } } } } }`, map[string]any{"ids": []string{"ben"}}, &q)
	if len(q.Queue.Edges) != 0 {
		t.Fatalf("ben owns %+v after deactivation", q.Queue.Edges)
	}
}

func testReactivated(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	id := w.NewConversation("maria")
	w.Deactivate("ben", "Ben Baker")
	w.Ben.MustFail("FORBIDDEN", `{ me { id } }`, nil)
	w.UpsertAgent(map[string]any{"id": "ben", "name": "Ben Baker", "role": "AGENT", "active": true})
	var me struct {
		Me struct {
			Active   bool
			Presence string
		}
	}
	w.Ben.MustDo(`{ me { active presence } }`, nil, &me)
	if !me.Me.Active || me.Me.Presence != "OFFLINE" {
		t.Fatalf("reactivated: %+v; want active and OFFLINE", me.Me)
	}
	if c := w.SetOwner(w.Cleo, id, "ben"); c.OwnerID() != "ben" {
		t.Fatalf("a reactivated agent cannot own: %+v", c)
	}
	// Upserting without active leaves it as it is, active or not.
	w.UpsertAgent(map[string]any{"id": "ben", "name": "Ben Baker", "role": "AGENT"})
	w.Ben.MustDo(`{ me { id } }`, nil, nil)
	w.Deactivate("ben", "Ben Baker")
	w.UpsertAgent(map[string]any{"id": "ben", "name": "Ben Baker", "role": "AGENT"})
	w.Ben.MustFail("FORBIDDEN", `{ me { id } }`, nil)
}
