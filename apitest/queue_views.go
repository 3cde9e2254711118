package apitest

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// Queue views: ownership filters and their unions, channels, orders, keyset
// paging, totalCount, queueCounts, and cursor misuse.

// filterFixture is a NEW queue of conversations owned by different agents,
// one second apart, plus PENDING and RESOLVED ones.
type filterFixture struct {
	w     *Workspace
	ids   map[string]string // label -> id
	order []string          // NEW labels, longest waiting first
}

func newFilterFixture(t *testing.T, e *Env) *filterFixture {
	t.Helper()
	w := e.NewWorkspace("ws")
	dana := e.Agent("ws", "dana", "Dana Diaz")
	dana.MustDo(`{ me { id } }`, nil, nil)
	fx := &filterFixture{w: w, ids: map[string]string{}}
	add := func(label, owner, status string) {
		id := w.NewConversation(label)
		if owner != "" {
			w.SetOwner(w.Admin, id, owner)
		}
		switch status {
		case "PENDING":
			w.Move(w.Admin, "moveToPending", id)
		case "RESOLVED":
			w.Move(w.Admin, "resolve", id)
		default:
			fx.order = append(fx.order, label)
		}
		fx.ids[label] = id
		e.Clock.Advance(time.Second)
	}
	add("u1", "", "NEW")
	add("b1", "ben", "NEW")
	add("c1", "cleo", "NEW")
	add("a1", "ada", "NEW")
	add("pu", "", "PENDING")
	add("d1", "dana", "NEW")
	add("u2", "", "NEW")
	add("pb", "ben", "PENDING")
	add("b2", "ben", "NEW")
	add("r1", "", "RESOLVED")
	return fx
}

// labels turns a page into fixture labels.
func (fx *filterFixture) labels(p QueuePage) string {
	byID := map[string]string{}
	for l, id := range fx.ids {
		byID[id] = l
	}
	var out []string
	for _, id := range p.IDs() {
		l, ok := byID[id]
		if !ok {
			l = "?" + id
		}
		out = append(out, l)
	}
	return strings.Join(out, " ")
}

func testOwnershipFilters(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	fx := newFilterFixture(t, e)
	w := fx.w
	all := "u1 b1 c1 a1 d1 u2 b2"
	cases := []struct {
		status    string
		ownership any
		want      string
	}{
		{"NEW", nil, all},
		{"NEW", map[string]any{}, all},
		{"NEW", map[string]any{"unowned": false, "ownedByMe": false, "ownedByOthers": false}, all},
		{"NEW", map[string]any{"ownerIds": []string{}}, all},
		{"NEW", map[string]any{"unowned": true}, "u1 u2"},
		{"NEW", map[string]any{"ownedByMe": true}, "b1 b2"},
		{"NEW", map[string]any{"ownedByOthers": true}, "c1 a1 d1"},
		{"NEW", map[string]any{"ownerIds": []string{"cleo"}}, "c1"},
		{"NEW", map[string]any{"ownerIds": []string{"dana", "cleo", "cleo"}}, "c1 d1"},
		{"NEW", map[string]any{"ownerIds": []string{"ben"}}, "b1 b2"},
		{"NEW", map[string]any{"unowned": true, "ownedByMe": true}, "u1 b1 u2 b2"},
		{"NEW", map[string]any{"unowned": true, "ownedByOthers": true}, "u1 c1 a1 d1 u2"},
		{"NEW", map[string]any{"ownedByMe": true, "ownedByOthers": true}, "b1 c1 a1 d1 b2"},
		{"NEW", map[string]any{"unowned": true, "ownerIds": []string{"dana"}}, "u1 d1 u2"},
		{"NEW", map[string]any{"ownedByMe": true, "ownerIds": []string{"cleo"}}, "b1 c1 b2"},
		{"NEW", map[string]any{"ownedByMe": true, "ownerIds": []string{"ben"}}, "b1 b2"},
		{"NEW", map[string]any{"ownedByOthers": true, "ownerIds": []string{"ben"}}, "b1 c1 a1 d1 b2"},
		{"NEW", map[string]any{"ownedByOthers": true, "ownerIds": []string{"cleo"}}, "c1 a1 d1"},
		{"NEW", map[string]any{"unowned": true, "ownedByMe": true, "ownedByOthers": true}, all},
		{"NEW", map[string]any{"unowned": true, "ownedByMe": true, "ownedByOthers": true, "ownerIds": []string{"ada"}}, all},
		{"NEW", map[string]any{"unowned": true, "ownedByMe": false, "ownerIds": []string{"ada", "cleo"}}, "u1 c1 a1 u2"},
		{"PENDING", nil, "pu pb"},
		{"PENDING", map[string]any{"unowned": true}, "pu"},
		{"PENDING", map[string]any{"ownedByMe": true}, "pb"},
		{"PENDING", map[string]any{"ownedByOthers": true}, ""},
		{"PENDING", map[string]any{"ownerIds": []string{"cleo"}}, ""},
		{"RESOLVED", nil, "r1"},
		{"RESOLVED", map[string]any{"unowned": true}, "r1"},
		{"RESOLVED", map[string]any{"ownedByMe": true}, ""},
	}
	for _, tc := range cases {
		args := map[string]any{"status": tc.status, "first": 100}
		if tc.ownership != nil {
			args["ownership"] = tc.ownership
		}
		for _, order := range []string{"LONGEST_WAITING", "NEWEST"} {
			args["order"] = order
			want := tc.want
			if order == "NEWEST" {
				want = reverseWords(want)
			}
			p := w.Queue(w.Ben, args)
			if got := fx.labels(p); got != want || p.TotalCount != len(strings.Fields(want)) {
				t.Errorf("%s %s %v: got [%s] total %d; want [%s] total %d", tc.status, order, tc.ownership, got, p.TotalCount, want, len(strings.Fields(want)))
			}
		}
	}
}

func reverseWords(s string) string {
	f := strings.Fields(s)
	slices.Reverse(f)
	return strings.Join(f, " ")
}

func testFiltersPerCaller(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	fx := newFilterFixture(t, e)
	w := fx.w
	for _, tc := range []struct {
		who       *Client
		ownership map[string]any
		want      string
	}{
		{w.Cleo, map[string]any{"ownedByMe": true}, "c1"},
		{w.Cleo, map[string]any{"ownedByOthers": true}, "b1 a1 d1 b2"},
		{w.Admin, map[string]any{"ownedByMe": true, "unowned": true}, "u1 a1 u2"},
		{w.Admin, map[string]any{"ownedByOthers": true}, "b1 c1 d1 b2"},
	} {
		p := w.Queue(tc.who, map[string]any{"status": "NEW", "ownership": tc.ownership})
		if got := fx.labels(p); got != tc.want || p.TotalCount != len(strings.Fields(tc.want)) {
			t.Errorf("%s %v: [%s] total %d; want [%s]", tc.who.Actor.ID, tc.ownership, got, p.TotalCount, tc.want)
		}
	}
	// An agent who owns nothing.
	eve := e.Agent("ws", "eve", "Eve Evans")
	p := w.Queue(eve, map[string]any{"status": "NEW", "ownership": map[string]any{"ownedByMe": true}})
	if len(p.Edges) != 0 || p.TotalCount != 0 {
		t.Errorf("eve owns %s", fx.labels(p))
	}
	p = w.Queue(eve, map[string]any{"status": "NEW", "ownership": map[string]any{"ownedByOthers": true}})
	if got := fx.labels(p); got != "b1 c1 a1 d1 b2" {
		t.Errorf("owned by others than eve: [%s]", got)
	}
}

func testQueueChannels(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	other := e.NewWorkspace("ws-other")
	chat := w.CreateChannel("Chat")
	var emailIDs, chatIDs, allIDs []string
	for i := 0; i < 6; i++ {
		ch := w.ChannelID
		if i%3 == 1 {
			ch = chat
		}
		id := w.InboundOn(ch, fmt.Sprintf("contact-%d", i), fmt.Sprintf("m-%d", i), "hi").ConversationID
		if i%2 == 0 {
			w.SetOwner(w.Ben, id, "ben")
		}
		if ch == chat {
			chatIDs = append(chatIDs, id)
		} else {
			emailIDs = append(emailIDs, id)
		}
		allIDs = append(allIDs, id)
		e.Clock.Advance(time.Second)
	}
	for _, tc := range []struct {
		channels []string
		want     []string
	}{
		{[]string{chat}, chatIDs},
		{[]string{w.ChannelID}, emailIDs},
		{[]string{chat, w.ChannelID}, allIDs},
		{[]string{chat, chat}, chatIDs},
		{[]string{}, allIDs},
		{nil, allIDs},
	} {
		args := map[string]any{"status": "NEW"}
		if tc.channels != nil {
			args["channelIds"] = tc.channels
		}
		p := w.Queue(w.Cleo, args)
		if !slices.Equal(p.IDs(), tc.want) || p.TotalCount != len(tc.want) {
			t.Errorf("channelIds %v: %v total %d; want %v", tc.channels, p.IDs(), p.TotalCount, tc.want)
		}
	}
	// With an ownership filter: Ben's on Chat.
	p := w.Queue(w.Ben, map[string]any{"status": "NEW", "channelIds": []string{chat}, "ownership": map[string]any{"ownedByMe": true}})
	var want []string
	for _, id := range chatIDs {
		if w.Get(w.Ben, id).OwnerID() == "ben" {
			want = append(want, id)
		}
	}
	if !slices.Equal(p.IDs(), want) || p.TotalCount != len(want) || len(want) == 0 {
		t.Errorf("Ben's on Chat: %v; want %v", p.IDs(), want)
	}
	for _, bad := range [][]string{{"ch_unknown"}, {w.ChannelID, "ch_unknown"}, {other.ChannelID}, {""}} {
		w.Cleo.MustFailArg("BAD_USER_INPUT", "channelIds", QueueDoc, map[string]any{"status": "NEW", "channelIds": bad})
		w.Cleo.MustFailArg("BAD_USER_INPUT", "channelIds", `query($ch: [ID!]) { queueCounts(status: NEW, channelIds: $ch) { total } }`, map[string]any{"ch": bad})
	}
}

func testQueueUnknownOwner(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	e.NewWorkspace("ws-other")
	dana := e.Agent("ws-other", "dana", "Dana Diaz")
	dana.MustDo(`{ me { id } }`, nil, nil)
	w.NewConversation("maria")
	for _, ids := range [][]string{{"nobody"}, {"ben", "nobody"}, {"dana"}, {"connector"}, {""}} {
		for _, extra := range []map[string]any{{}, {"unowned": true}, {"ownedByOthers": true}} {
			own := map[string]any{"ownerIds": ids}
			for k, v := range extra {
				own[k] = v
			}
			r := w.Ben.MustFailArg("BAD_USER_INPUT", "ownership.ownerIds", QueueDoc, map[string]any{"status": "NEW", "ownership": own})
			assertNoLeak(t, r)
		}
	}
	// A deactivated agent is still a name a filter may use.
	w.Deactivate("cleo", "Cleo Cruz")
	p := w.Queue(w.Ben, map[string]any{"status": "NEW", "ownership": map[string]any{"ownerIds": []string{"cleo"}}})
	if p.TotalCount != 0 {
		t.Errorf("filter by a deactivated agent: %v", p.IDs())
	}
}

// seedTimes creates NEW conversations in groups that share a waitingSince:
// sizes[i] conversations at the i-th second. It returns their ids sorted
// as LONGEST_WAITING lists them: by waitingSince, then id.
func seedTimes(t *testing.T, e *Env, w *Workspace, prefix string, sizes []int, channelOf func(i int) string, ownerOf func(i int) string) []string {
	t.Helper()
	type row struct {
		at int
		id string
	}
	var rows []row
	n := 0
	for g, size := range sizes {
		for j := 0; j < size; j++ {
			ch := w.ChannelID
			if channelOf != nil {
				ch = channelOf(n)
			}
			id := w.InboundOn(ch, fmt.Sprintf("%s-%02d", prefix, n), fmt.Sprintf("%s-m-%02d", prefix, n), "hi").ConversationID
			if ownerOf != nil {
				if o := ownerOf(n); o != "" {
					// Assigning does not move waitingSince.
					w.SetOwner(w.Admin, id, o)
				}
			}
			rows = append(rows, row{g, id})
			n++
		}
		e.Clock.Advance(time.Second)
	}
	slices.SortFunc(rows, func(a, b row) int {
		if a.at != b.at {
			return a.at - b.at
		}
		return strings.Compare(a.id, b.id)
	})
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.id
	}
	return ids
}

func testQueueOrders(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	want := seedTimes(t, e, w, "c", []int{3, 1, 4, 2}, nil, nil)
	p := w.Queue(w.Ben, map[string]any{"status": "NEW"})
	if !slices.Equal(p.IDs(), want) {
		t.Fatalf("LONGEST_WAITING (default):\n got %v\nwant %v", p.IDs(), want)
	}
	for i := 1; i < len(p.Edges); i++ {
		if p.Edges[i-1].Node.WaitingSince > p.Edges[i].Node.WaitingSince {
			t.Fatalf("LONGEST_WAITING is not by waitingSince: %s before %s", p.Edges[i-1].Node.WaitingSince, p.Edges[i].Node.WaitingSince)
		}
	}
	p = w.Queue(w.Ben, map[string]any{"status": "NEW", "order": "LONGEST_WAITING"})
	if !slices.Equal(p.IDs(), want) {
		t.Fatalf("LONGEST_WAITING:\n got %v\nwant %v", p.IDs(), want)
	}
	p = w.Queue(w.Ben, map[string]any{"status": "NEW", "order": "NEWEST"})
	rev := slices.Clone(want)
	slices.Reverse(rev)
	if !slices.Equal(p.IDs(), rev) {
		t.Fatalf("NEWEST:\n got %v\nwant %v", p.IDs(), rev)
	}
	// Moving one to PENDING and back makes it the newest.
	w.Move(w.Ben, "moveToPending", want[0])
	w.Move(w.Ben, "moveToNew", want[0])
	p = w.Queue(w.Ben, map[string]any{"status": "NEW"})
	if got := p.IDs(); got[len(got)-1] != want[0] {
		t.Fatalf("after moving back, %s is not the newest: %v", want[0], got)
	}
}

// pageThrough reads a view in pages of size and returns the ids in order,
// checking pageInfo and cursors on the way.
func pageThrough(t *testing.T, w *Workspace, c *Client, args map[string]any, size int) []string {
	t.Helper()
	var ids []string
	var after any
	for page := 0; page < 100; page++ {
		a := map[string]any{"first": size, "after": after}
		for k, v := range args {
			a[k] = v
		}
		p := w.Queue(c, a)
		if p.PageInfo.HasPreviousPage != (page > 0) {
			t.Fatalf("%v size %d page %d: hasPreviousPage %v", args, size, page, p.PageInfo.HasPreviousPage)
		}
		if len(p.Edges) > size {
			t.Fatalf("%v size %d page %d: %d rows", args, size, page, len(p.Edges))
		}
		if n := len(p.Edges); n > 0 {
			if p.PageInfo.StartCursor == nil || *p.PageInfo.StartCursor != p.Edges[0].Cursor ||
				p.PageInfo.EndCursor == nil || *p.PageInfo.EndCursor != p.Edges[n-1].Cursor {
				t.Fatalf("%v page %d: start/end cursors %v %v do not match the edges", args, page, p.PageInfo.StartCursor, p.PageInfo.EndCursor)
			}
		}
		ids = append(ids, p.IDs()...)
		if !p.PageInfo.HasNextPage {
			return ids
		}
		if len(p.Edges) != size {
			t.Fatalf("%v size %d page %d: hasNextPage with a short page of %d", args, size, page, len(p.Edges))
		}
		after = *p.PageInfo.EndCursor
	}
	t.Fatalf("%v: paging does not end", args)
	return nil
}

func testQueuePaging(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	chat := w.CreateChannel("Chat")
	owners := []string{"", "ben", "cleo", "", "ada", "ben", ""}
	want := seedTimes(t, e, w, "c", []int{4, 1, 5, 3, 1, 4}, func(i int) string {
		if i%3 == 0 {
			return chat
		}
		return w.ChannelID
	}, func(i int) string { return owners[i%len(owners)] })
	ownerOf := map[string]string{}
	channelOf := map[string]string{}
	{
		var out struct {
			Queue struct {
				Edges []struct {
					Node struct {
						ID      string
						Owner   *Ref
						Channel struct{ ID string }
					}
				}
			}
		}
		w.Ben.MustDo(`{ queue(status: NEW, first: 100) { edges { node { id owner { id } channel { id } } } } }`, nil, &out)
		for _, e := range out.Queue.Edges {
			ownerOf[e.Node.ID] = refID(e.Node.Owner)
			channelOf[e.Node.ID] = e.Node.Channel.ID
		}
	}
	filter := func(keep func(id string) bool) []string {
		var out []string
		for _, id := range want {
			if keep(id) {
				out = append(out, id)
			}
		}
		return out
	}
	views := []struct {
		name string
		args map[string]any
		want []string
	}{
		{"everything", map[string]any{}, want},
		{"unowned", map[string]any{"ownership": map[string]any{"unowned": true}}, filter(func(id string) bool { return ownerOf[id] == "" })},
		{"ben and cleo", map[string]any{"ownership": map[string]any{"ownerIds": []string{"ben", "cleo"}}}, filter(func(id string) bool { return ownerOf[id] == "ben" || ownerOf[id] == "cleo" })},
		{"owned by others", map[string]any{"ownership": map[string]any{"ownedByOthers": true}}, filter(func(id string) bool { return ownerOf[id] != "" && ownerOf[id] != "ben" })},
		{"unowned or mine on chat", map[string]any{"ownership": map[string]any{"unowned": true, "ownedByMe": true}, "channelIds": []string{chat}},
			filter(func(id string) bool { return (ownerOf[id] == "" || ownerOf[id] == "ben") && channelOf[id] == chat })},
		{"both channels", map[string]any{"channelIds": []string{chat, w.ChannelID}}, want},
	}
	for _, v := range views {
		if len(v.want) < 4 {
			t.Fatalf("view %s has only %d rows: the fixture is too small", v.name, len(v.want))
		}
		for _, order := range []string{"LONGEST_WAITING", "NEWEST"} {
			args := map[string]any{"status": "NEW", "order": order}
			for k, x := range v.args {
				args[k] = x
			}
			exp := slices.Clone(v.want)
			if order == "NEWEST" {
				slices.Reverse(exp)
			}
			for _, size := range []int{1, 3, 4} {
				if got := pageThrough(t, w, w.Ben, args, size); !slices.Equal(got, exp) {
					t.Errorf("%s %s in pages of %d:\n got %v\nwant %v", v.name, order, size, got, exp)
				}
			}
			p := w.Queue(w.Ben, map[string]any{"status": "NEW", "order": order, "first": 2, "ownership": args["ownership"], "channelIds": args["channelIds"]})
			if p.TotalCount != len(exp) || !p.PageInfo.HasNextPage {
				t.Errorf("%s %s: totalCount %d hasNextPage %v on a page of 2; want %d and true", v.name, order, p.TotalCount, p.PageInfo.HasNextPage, len(exp))
			}
		}
	}
	p := w.Queue(w.Ben, map[string]any{"status": "NEW", "first": 0})
	if len(p.Edges) != 0 || p.TotalCount != len(want) {
		t.Errorf("first: 0: %d rows, total %d; want none of %d", len(p.Edges), p.TotalCount, len(want))
	}
}

func testQueuePagingWhileMoving(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	for _, order := range []string{"LONGEST_WAITING", "NEWEST"} {
		w2 := w
		ids := seedTimes(t, e, w2, "p"+order[:1], []int{3, 3, 3, 3}, nil, nil)
		view := slices.Clone(ids)
		if order == "NEWEST" {
			slices.Reverse(view)
		}
		args := map[string]any{"status": "NEW", "order": order, "first": 4}
		p := w.Queue(w.Ben, args)
		if !slices.Equal(p.IDs(), view[:4]) {
			t.Fatalf("%s first page %v; want %v", order, p.IDs(), view[:4])
		}
		seen := map[string]int{}
		for _, id := range p.IDs() {
			seen[id]++
		}
		// Meanwhile: one row of the first page and one not yet seen leave,
		// one row of the first page gets an owner (it stays put), and a new
		// conversation arrives.
		w.Move(w.Cleo, "resolve", view[1])
		w.Move(w.Cleo, "resolve", view[3]) // the row the cursor names
		w.Move(w.Cleo, "resolve", view[8])
		w.SetOwner(w.Cleo, view[2], "cleo")
		arrived := w.Inbound("p"+order[:1]+"-maria", "p"+order[:1]+"-mm", "hi").ConversationID
		after := *p.PageInfo.EndCursor
		for {
			args := map[string]any{"status": "NEW", "order": order, "first": 4, "after": after}
			p := w.Queue(w.Ben, args)
			for _, id := range p.IDs() {
				seen[id]++
			}
			if !p.PageInfo.HasNextPage {
				break
			}
			after = *p.PageInfo.EndCursor
		}
		if order == "LONGEST_WAITING" && seen[arrived] != 1 {
			t.Errorf("%s: a conversation that arrived meanwhile seen %d times; want once, at the end", order, seen[arrived])
		}
		for i, id := range view {
			want := 1
			if i == 8 {
				want = 0
			}
			if seen[id] != want {
				t.Errorf("%s: row %d (%s) seen %d times; want %d", order, i, id, seen[id], want)
			}
		}
		// Clean up for the next order.
		var out struct {
			Queue struct {
				Edges []struct{ Node struct{ ID string } }
			}
		}
		w.Ben.MustDo(`{ queue(status: NEW, first: 100) { edges { node { id } } } }`, nil, &out)
		for _, e := range out.Queue.Edges {
			w.Move(w.Ben, "resolve", e.Node.ID)
		}
	}
}

func testQueueCounts(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	chat := w.CreateChannel("Chat")
	dana := e.Agent("ws", "dana", "Dana Diaz")
	dana.MustDo(`{ me { id } }`, nil, nil)
	w.SetPresence(w.Ben, "ONLINE")
	w.SetPresence(w.Admin, "AWAY")
	// NEW: ben 3 (one on chat), ada 2, cleo 1 (chat), unowned 2 (one chat).
	// PENDING: dana 1, unowned 1. RESOLVED: 1.
	n := 0
	add := func(ch, owner, status string) {
		id := w.InboundOn(ch, fmt.Sprintf("c%d", n), fmt.Sprintf("m%d", n), "hi").ConversationID
		n++
		if owner != "" {
			w.SetOwner(w.Admin, id, owner)
		}
		switch status {
		case "PENDING":
			w.Move(w.Admin, "moveToPending", id)
		case "RESOLVED":
			w.Move(w.Admin, "resolve", id)
		}
	}
	email := w.ChannelID
	add(email, "ben", "NEW")
	add(email, "ben", "NEW")
	add(chat, "ben", "NEW")
	add(email, "ada", "NEW")
	add(email, "ada", "NEW")
	add(chat, "cleo", "NEW")
	add(email, "", "NEW")
	add(chat, "", "NEW")
	add(email, "dana", "PENDING")
	add(email, "", "PENDING")
	add(email, "ben", "RESOLVED")

	type ownerCount struct {
		Owner struct{ ID, Name, Presence string }
		Count int
	}
	type counts struct {
		Total, Unowned, OwnedByMe, OwnedByOthers int
		ByOwner                                  []ownerCount
	}
	read := func(c *Client, status string, channels []string) counts {
		t.Helper()
		var out struct{ QueueCounts counts }
		vars := map[string]any{"s": status}
		if channels != nil {
			vars["ch"] = channels
		}
		c.MustDo(`query($s: QueueStatus!, $ch: [ID!]) { queueCounts(status: $s, channelIds: $ch) {
			total unowned ownedByMe ownedByOthers byOwner { owner { id name presence } count } } }`, vars, &out)
		return out.QueueCounts
	}
	str := func(c counts) string {
		// byOwner goes by count, most first; the order of equal counts is
		// not specified, so they are compared sorted by id.
		for i := 1; i < len(c.ByOwner); i++ {
			if c.ByOwner[i-1].Count < c.ByOwner[i].Count {
				t.Errorf("byOwner is not sorted by count: %+v", c.ByOwner)
			}
		}
		slices.SortStableFunc(c.ByOwner, func(a, b ownerCount) int {
			if a.Count != b.Count {
				return b.Count - a.Count
			}
			return strings.Compare(a.Owner.ID, b.Owner.ID)
		})
		s := fmt.Sprintf("total %d unowned %d me %d others %d:", c.Total, c.Unowned, c.OwnedByMe, c.OwnedByOthers)
		for _, o := range c.ByOwner {
			s += fmt.Sprintf(" %s(%s,%s)=%d", o.Owner.ID, o.Owner.Name, o.Owner.Presence, o.Count)
		}
		return s
	}
	for _, tc := range []struct {
		who      *Client
		status   string
		channels []string
		want     string
	}{
		{w.Cleo, "NEW", nil, "total 8 unowned 2 me 1 others 5: ben(Ben Baker,ONLINE)=3 ada(Ada Admin,AWAY)=2 cleo(Cleo Cruz,OFFLINE)=1"},
		{w.Ben, "NEW", nil, "total 8 unowned 2 me 3 others 3: ben(Ben Baker,ONLINE)=3 ada(Ada Admin,AWAY)=2 cleo(Cleo Cruz,OFFLINE)=1"},
		{w.Ben, "NEW", []string{chat}, "total 3 unowned 1 me 1 others 1: ben(Ben Baker,ONLINE)=1 cleo(Cleo Cruz,OFFLINE)=1"},
		{w.Ben, "NEW", []string{email}, "total 5 unowned 1 me 2 others 2: ada(Ada Admin,AWAY)=2 ben(Ben Baker,ONLINE)=2"},
		{w.Ben, "NEW", []string{email, chat}, "total 8 unowned 2 me 3 others 3: ben(Ben Baker,ONLINE)=3 ada(Ada Admin,AWAY)=2 cleo(Cleo Cruz,OFFLINE)=1"},
		{dana, "PENDING", nil, "total 2 unowned 1 me 1 others 0: dana(Dana Diaz,OFFLINE)=1"},
		{w.Ben, "RESOLVED", nil, "total 1 unowned 1 me 0 others 0:"},
	} {
		if got := str(read(tc.who, tc.status, tc.channels)); got != tc.want {
			t.Errorf("%s: queueCounts(%s, %v)\n got %s\nwant %s", tc.who.Actor.ID, tc.status, tc.channels, got, tc.want)
		}
	}
	// The counts agree with the queue's totalCount for each option.
	for _, own := range []map[string]any{{"unowned": true}, {"ownedByMe": true}, {"ownedByOthers": true}, {}} {
		p := w.Queue(w.Ben, map[string]any{"status": "NEW", "ownership": own, "first": 1})
		c := read(w.Ben, "NEW", nil)
		want := map[string]int{"unowned": c.Unowned, "ownedByMe": c.OwnedByMe, "ownedByOthers": c.OwnedByOthers, "": c.Total}
		key := ""
		for k := range own {
			key = k
		}
		if p.TotalCount != want[key] {
			t.Errorf("queue %v totalCount %d; queueCounts says %d", own, p.TotalCount, want[key])
		}
	}
}

func testCursorMisuse(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	other := e.NewWorkspace("ws-other")
	chat := w.CreateChannel("Chat")
	seedTimes(t, e, w, "c", []int{2, 2, 2}, nil, func(i int) string { return []string{"ben", "ben", ""}[i%3] })
	seedTimes(t, e, other, "c", []int{2, 2, 2}, nil, func(i int) string { return []string{"ben", "ben", ""}[i%3] })
	base := map[string]any{"status": "NEW", "ownership": map[string]any{"ownedByMe": true}, "channelIds": []string{w.ChannelID}, "order": "LONGEST_WAITING", "first": 1}
	p := w.Queue(w.Ben, base)
	if !p.PageInfo.HasNextPage {
		t.Fatal("the fixture needs a second page")
	}
	cursor := *p.PageInfo.EndCursor
	with := func(k string, v any) map[string]any {
		a := map[string]any{"after": cursor}
		for x, y := range base {
			a[x] = y
		}
		if v == nil {
			delete(a, k)
		} else {
			a[k] = v
		}
		return a
	}
	// It works as given.
	w.Queue(w.Ben, with("first", 1))
	for what, args := range map[string]map[string]any{
		"another status":     with("status", "PENDING"),
		"another filter":     with("ownership", map[string]any{"unowned": true}),
		"no filter":          with("ownership", nil),
		"a wider filter":     with("ownership", map[string]any{"ownedByMe": true, "unowned": true}),
		"other channels":     with("channelIds", []string{chat}),
		"more channels":      with("channelIds", []string{chat, w.ChannelID}),
		"no channels":        with("channelIds", nil),
		"another order":      with("order", "NEWEST"),
		"a malformed cursor": with("after", "not-a-cursor"),
		"a forged cursor":    with("after", base64.RawURLEncoding.EncodeToString([]byte(`{"w":0,"i":"cv_x","v":"forged"}`))),
		"a message cursor":   with("after", base64.RawURLEncoding.EncodeToString([]byte(`msg:1`))),
	} {
		r := w.Ben.MustFailArg("BAD_USER_INPUT", "after", QueueDoc, args)
		if strings.Contains(string(r.Raw), "cv_") {
			t.Errorf("%s: the error names ids: %s", what, r.Raw)
		}
	}
	// Another caller, same arguments: ownedByMe means someone else.
	w.Cleo.MustFailArg("BAD_USER_INPUT", "after", QueueDoc, with("first", 1))
	// ownedByOthers is relative to the caller too.
	others := map[string]any{"status": "NEW", "ownership": map[string]any{"ownedByOthers": true}, "first": 1}
	p = w.Queue(w.Cleo, others)
	if !p.PageInfo.HasNextPage {
		t.Fatal("the fixture needs a second page of owned by others")
	}
	others["after"] = *p.PageInfo.EndCursor
	w.Queue(w.Cleo, others)
	w.Admin.MustFailArg("BAD_USER_INPUT", "after", QueueDoc, others)
	// Another workspace, same caller id and arguments.
	plain := map[string]any{"status": "NEW", "first": 1}
	p = w.Queue(w.Ben, plain)
	plain["after"] = *p.PageInfo.EndCursor
	w.Queue(w.Ben, plain)
	other.Ben.MustFailArg("BAD_USER_INPUT", "after", QueueDoc, plain)
}

func testCursorReuse(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	want := seedTimes(t, e, w, "c", []int{3, 3}, nil, nil)
	args := map[string]any{"status": "NEW", "ownership": map[string]any{"unowned": true}, "first": 2}
	p := w.Queue(w.Ben, args)
	args["after"] = *p.PageInfo.EndCursor
	args["first"] = 10
	rest := w.Queue(w.Cleo, args) // another caller, another page size
	if got := append(p.IDs(), rest.IDs()...); !slices.Equal(got, want) {
		t.Fatalf("pages by ben then cleo: %v; want %v", got, want)
	}
	// A view that is not relative to the caller at all.
	plain := map[string]any{"status": "NEW", "first": 4}
	p = w.Queue(w.Ben, plain)
	plain["after"] = *p.PageInfo.EndCursor
	plain["first"] = 1
	if rest := w.Queue(w.Admin, plain); !slices.Equal(rest.IDs(), want[4:5]) || !rest.PageInfo.HasNextPage {
		t.Fatalf("the admin's next page: %v; want %v", rest.IDs(), want[4:5])
	}
}

func testQueueDefaultPage(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	want := seedTimes(t, e, w, "c", []int{9, 9, 9}, nil, nil)
	p := w.Queue(w.Ben, map[string]any{"status": "NEW"})
	if !slices.Equal(p.IDs(), want[:25]) || !p.PageInfo.HasNextPage || p.TotalCount != 27 {
		t.Fatalf("default page: %d rows, hasNextPage %v, total %d; want the first 25 of 27", len(p.Edges), p.PageInfo.HasNextPage, p.TotalCount)
	}
	r := w.Ben.MustDo(`{ queue(status: NEW, first: null) { edges { cursor } } }`, nil, nil)
	if n := strings.Count(string(r.Data), `"cursor"`); n != 25 {
		t.Fatalf("first: null gave %d rows; want 25", n)
	}
}

func testPageSizeLimit(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	id := w.NewConversation("maria")
	for _, n := range []int{101, 1000, -1} {
		w.Ben.MustFailArg("BAD_USER_INPUT", "first", `query($n: Int) { queue(status: NEW, first: $n) { totalCount } }`, map[string]any{"n": n})
		w.Ben.MustFailArg("BAD_USER_INPUT", "first", `query($id: ID!, $n: Int) { conversation(id: $id) { messages(first: $n) { edges { cursor } } } }`, map[string]any{"id": id, "n": n})
		w.Ben.MustFailArg("BAD_USER_INPUT", "last", `query($id: ID!, $n: Int) { conversation(id: $id) { messages(last: $n) { edges { cursor } } } }`, map[string]any{"id": id, "n": n})
		w.Ben.MustFailArg("BAD_USER_INPUT", "first", `query($id: ID!, $n: Int) { conversation(id: $id) { history(first: $n) { edges { cursor } } } }`, map[string]any{"id": id, "n": n})
		w.Ben.MustFailArg("BAD_USER_INPUT", "last", `query($id: ID!, $n: Int) { conversation(id: $id) { history(last: $n) { edges { cursor } } } }`, map[string]any{"id": id, "n": n})
	}
	var out struct {
		Queue struct {
			TotalCount int
			Edges      []struct{ Cursor string }
		}
	}
	w.Ben.MustDo(`{ queue(status: NEW, first: 100) { totalCount edges { cursor } } }`, nil, &out)
	if out.Queue.TotalCount != 1 || len(out.Queue.Edges) != 1 {
		t.Fatalf("first: 100: %+v", out)
	}
	w.Ben.MustDo(`query($id: ID!) { conversation(id: $id) { messages(first: 100) { edges { cursor } } history(first: 100) { edges { cursor } } } }`, map[string]any{"id": id}, nil)
	w.Ben.MustDo(`query($id: ID!) { conversation(id: $id) { messages(last: 100) { edges { cursor } } history(last: 100) { edges { cursor } } } }`, map[string]any{"id": id}, nil)
}
