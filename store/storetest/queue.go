package storetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"switchboard/domain"
)

// queueData fills a store with a mix of queues, owners, channels and
// waiting times, many of them equal so that paging has to break ties by id,
// and workspace B with the same ids in other states. It returns workspace
// A's conversations.
func queueData(t *testing.T, s domain.Store) []domain.Conversation {
	t.Helper()
	statuses := []domain.QueueStatus{domain.StatusNew, domain.StatusPending, domain.StatusNew, domain.StatusResolved}
	owners := []string{"", "ag-1", "ag-2", "", "ag-3", "ag-1"}
	var out []domain.Conversation
	for i := 0; i < 72; i++ {
		// Ids in another order than the waiting times.
		id := fmt.Sprintf("cv-%02d", (i*29)%72)
		status := statuses[i%len(statuses)]
		owner := owners[i%len(owners)]
		if status == domain.StatusResolved {
			owner = ""
		}
		c := newConversation(wsA, id, status, owner, at(1000*(i%7)))
		c.ChannelID = []string{"ch-1", "ch-2", "ch-3"}[i%3]
		out = append(out, mustInsert(t, s, creation(c)))

		// B: same id, same waiting time, every conversation in every view
		// of A if workspace were ignored.
		b := newConversation(wsB, id, status, owners[(i+1)%len(owners)], at(1000*(i%7)))
		b.ChannelID = c.ChannelID
		mustInsert(t, s, creation(b))
	}
	return out
}

// queueView is what the store should return for q, computed the slow way.
func queueView(all []domain.Conversation, q domain.QueueQuery) []domain.Conversation {
	var out []domain.Conversation
	for _, c := range all {
		if c.WorkspaceID == q.WorkspaceID && c.Status == q.Status && q.Owners.Matches(c.OwnerID) &&
			(len(q.ChannelIDs) == 0 || slices.Contains(q.ChannelIDs, c.ChannelID)) {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(x, y domain.Conversation) int {
		c := x.WaitingSince.Compare(y.WaitingSince)
		if c == 0 {
			c = strings.Compare(x.ID, y.ID)
		}
		if q.Order == domain.Newest {
			c = -c
		}
		return c
	})
	return out
}

// predicates are the shapes of ownership filter a caller can make, and a
// few it cannot that a store must still answer right.
var predicates = []struct {
	name string
	p    domain.OwnerPredicate
}{
	{"every conversation", domain.OwnerPredicate{Unowned: true, AnyOwner: true}},
	{"unowned only", domain.OwnerPredicate{Unowned: true}},
	{"one owner", domain.OwnerPredicate{Owners: []string{"ag-1"}}},
	{"a list of owners", domain.OwnerPredicate{Owners: []string{"ag-1", "ag-3"}}},
	{"unowned or a list of owners", domain.OwnerPredicate{Unowned: true, Owners: []string{"ag-2", "ag-3"}}},
	{"any owner", domain.OwnerPredicate{AnyOwner: true}},
	{"any owner but one", domain.OwnerPredicate{AnyOwner: true, Except: []string{"ag-1"}}},
	{"unowned or any owner but one", domain.OwnerPredicate{Unowned: true, AnyOwner: true, Except: []string{"ag-1"}}},
	{"any owner but two, one of them listed again", domain.OwnerPredicate{AnyOwner: true, Except: []string{"ag-1", "ag-2"}, Owners: []string{"ag-1"}}},
	{"an owner with no conversations", domain.OwnerPredicate{Owners: []string{"ag-9"}}},
	{"nothing", domain.OwnerPredicate{}},
}

var channelFilters = []struct {
	name string
	ids  []string
}{
	{"every channel", nil},
	{"one channel", []string{"ch-2"}},
	{"two channels", []string{"ch-1", "ch-3"}},
	{"an unknown channel", []string{"ch-9"}},
}

func testQueue(t *testing.T, f Factory) {
	s := f.New(t)
	all := queueData(t, s)

	for _, pred := range predicates {
		t.Run("paging through "+pred.name+" visits each row once, in order", func(t *testing.T) {
			for _, status := range []domain.QueueStatus{domain.StatusNew, domain.StatusPending, domain.StatusResolved} {
				for _, ch := range channelFilters {
					for _, order := range []domain.QueueOrder{domain.LongestWaiting, domain.Newest} {
						q := domain.QueueQuery{WorkspaceID: wsA, Status: status, Owners: pred.p, ChannelIDs: ch.ids, Order: order}
						what := fmt.Sprintf("%s, %s, %s", status, ch.name, order)
						want := queueView(all, q)
						for _, limit := range []int{1, 4, 100} {
							got := pageThrough(t, s, q, limit)
							equal(t, fmt.Sprintf("%s, pages of %d", what, limit), got, want)
						}
						n, err := s.CountQueue(ctx, q)
						wantErr(t, "CountQueue "+what, err, nil)
						if n != len(want) {
							t.Errorf("CountQueue %s = %d, want %d", what, n, len(want))
						}
					}
				}
			}
		})
	}

	t.Run("a page after a key that is not in the view starts strictly after that key", func(t *testing.T) {
		q := domain.QueueQuery{WorkspaceID: wsA, Status: domain.StatusNew, Owners: domain.OwnerPredicate{Unowned: true, AnyOwner: true}, Limit: 100}
		// Between two ids of one waiting time, a time no row has, and a key
		// before every row.
		for _, after := range []domain.QueueKey{
			{WaitingSince: at(2000), ID: "cv-30a"},
			{WaitingSince: at(2500), ID: ""},
			{WaitingSince: at(-1), ID: "zzz"},
		} {
			for _, order := range []domain.QueueOrder{domain.LongestWaiting, domain.Newest} {
				q.Order, q.After = order, &after
				want := []domain.Conversation{}
				for _, c := range queueView(all, q) {
					if sortsAfter(c, after, order) {
						want = append(want, c)
					}
				}
				got, err := s.QueryQueue(ctx, q)
				wantErr(t, "QueryQueue", err, nil)
				equal(t, fmt.Sprintf("after %v, %s", after, order), got, want)
			}
		}
	})

	t.Run("a limit of zero returns nothing", func(t *testing.T) {
		got, err := s.QueryQueue(ctx, domain.QueueQuery{WorkspaceID: wsA, Status: domain.StatusNew, Owners: domain.OwnerPredicate{Unowned: true, AnyOwner: true}})
		wantErr(t, "QueryQueue", err, nil)
		if len(got) != 0 {
			t.Errorf("QueryQueue with limit 0 returned %d rows", len(got))
		}
	})

	t.Run("CountOwners counts each owner's conversations, unowned as the empty owner", func(t *testing.T) {
		for _, status := range []domain.QueueStatus{domain.StatusNew, domain.StatusPending, domain.StatusResolved} {
			for _, ch := range channelFilters {
				counts := map[string]int{}
				for _, c := range all {
					if c.Status == status && (len(ch.ids) == 0 || slices.Contains(ch.ids, c.ChannelID)) {
						counts[c.OwnerID]++
					}
				}
				var want []domain.OwnerCount
				for owner, n := range counts {
					want = append(want, domain.OwnerCount{OwnerID: owner, Count: n})
				}
				got, err := s.CountOwners(ctx, wsA, status, ch.ids)
				wantErr(t, "CountOwners", err, nil)
				// The order of the rows is not part of the contract.
				byOwner := func(x, y domain.OwnerCount) int { return strings.Compare(x.OwnerID, y.OwnerID) }
				slices.SortFunc(got, byOwner)
				slices.SortFunc(want, byOwner)
				equal(t, fmt.Sprintf("CountOwners %s, %s", status, ch.name), got, want)
			}
		}
	})
}

// pageThrough reads the whole view q in pages of limit, each after the last
// row of the one before.
func pageThrough(t *testing.T, s domain.Store, q domain.QueueQuery, limit int) []domain.Conversation {
	t.Helper()
	q.Limit, q.After = limit, nil
	var out []domain.Conversation
	for range 200 {
		page, err := s.QueryQueue(ctx, q)
		if err != nil {
			t.Fatalf("QueryQueue: %v", err)
		}
		if len(page) > limit {
			t.Fatalf("QueryQueue returned %d rows for limit %d", len(page), limit)
		}
		out = append(out, page...)
		if len(page) < limit {
			return out
		}
		last := page[len(page)-1]
		q.After = &domain.QueueKey{WaitingSince: last.WaitingSince, ID: last.ID}
	}
	t.Fatalf("paging did not end")
	return nil
}

func sortsAfter(c domain.Conversation, k domain.QueueKey, order domain.QueueOrder) bool {
	cmp := c.WaitingSince.Compare(k.WaitingSince)
	if cmp == 0 {
		cmp = strings.Compare(c.ID, k.ID)
	}
	if order == domain.Newest {
		return cmp < 0
	}
	return cmp > 0
}
