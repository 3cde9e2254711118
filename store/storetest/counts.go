package storetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"switchboard/domain"
)

// The badge counts (CountQueue, CountOwners) against a full recount of the
// conversations, after random writes made at once by several writers:
// creations, changes of queue and owner, single and in batches, changes
// that lose their condition, and changes that fail after the conversation's row was
// written (a duplicate message id), which must leave the counts as if
// they never ran.

var (
	countOwners   = []string{"", "ag-1", "ag-2", "ag-3", "ag-4"}
	countChannels = []string{"ch-1", "ch-2", "ch-3"}
	countStatuses = []domain.QueueStatus{domain.StatusNew, domain.StatusPending, domain.StatusResolved}
)

// randomChange is a random next state of c: another queue, another owner
// (none in RESOLVED), or both.
func randomChange(rng *rand.Rand, c domain.Conversation) domain.ConversationWrite {
	return change(c, func(n *domain.Conversation) {
		if rng.IntN(2) == 0 {
			n.Status = countStatuses[rng.IntN(len(countStatuses))]
		}
		n.OwnerID = countOwners[rng.IntN(len(countOwners))]
		if n.Status == domain.StatusResolved {
			n.OwnerID = ""
		}
		n.OwnedSince, n.OwnerVersion = nil, 0
		if n.OwnerID != "" {
			n.OwnedSince, n.OwnerVersion = ptr(n.UpdatedAt), n.Version
		}
		n.BoomerangAt = nil
	})
}

// countWorkload writes conversations in workspace ws from writers
// goroutines at once, each making ops random writes, and returns the ids
// of every conversation it created and what went wrong.
func countWorkload(s domain.Store, ws string, writers, ops int, seed uint64) (ids, failures []string) {
	var mu sync.Mutex
	fail := func(format string, args ...any) {
		mu.Lock()
		failures = append(failures, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			var mine []string
			for i := range ops {
				mu.Lock()
				all := slices.Clone(ids)
				mu.Unlock()
				switch r := rng.IntN(10); {
				case r < 3 || len(all) == 0:
					id := fmt.Sprintf("cv-%d-%d", w, i)
					c := newConversation(ws, id, countStatuses[rng.IntN(2)], "", at(i))
					c.ChannelID = countChannels[rng.IntN(len(countChannels))]
					if o := countOwners[rng.IntN(len(countOwners))]; o != "" {
						c.OwnerID, c.OwnedSince, c.OwnerVersion = o, ptr(at(8)), 1
					}
					if err := s.InsertConversation(ctx, creation(c)); err != nil {
						fail("InsertConversation(%s): %v", id, err)
						return
					}
					mine = append(mine, id)
					mu.Lock()
					ids = append(ids, id)
					mu.Unlock()
				case r == 8:
					// A batch of changes, read first as below: small, or as
					// large as a release's (a store may keep the counts of
					// a large batch itself). One of them may carry a
					// duplicate message, found after its row was changed.
					batch := make([]string, []int{3, 12}[rng.IntN(2)])
					for j := range batch {
						batch[j] = all[rng.IntN(len(all))]
					}
					cs, err := s.ConversationsByIDs(ctx, ws, batch)
					if err != nil {
						fail("ConversationsByIDs(%v): %v", batch, err)
						return
					}
					var writes []domain.ConversationWrite
					for _, c := range cs {
						writes = append(writes, randomChange(rng, *c))
					}
					dup := -1
					if rng.IntN(2) == 0 {
						dup = rng.IntN(len(writes))
						writes[dup].Message = newMessage(writes[dup].Conversation, "m-"+batch[dup]+"-1")
					}
					errs, err := s.UpdateConversations(ctx, writes)
					if err != nil {
						fail("UpdateConversations(%v): %v", batch, err)
						return
					}
					for i, err := range errs {
						switch {
						case i == dup && err == nil:
							fail("UpdateConversations(%v) write %d with a duplicate message id succeeded", batch, i)
						case err == nil, errors.Is(err, domain.ErrVersionConflict):
						case errors.Is(err, domain.ErrDuplicate) && i == dup:
						default:
							fail("UpdateConversations(%v) write %d: %v", batch, i, err)
						}
					}
				default:
					// Read, then write on that version: another writer may
					// have moved it in between (a lost race, no change).
					id := all[rng.IntN(len(all))]
					cs, err := s.ConversationsByIDs(ctx, ws, []string{id})
					if err != nil || len(cs) != 1 || cs[0] == nil {
						fail("ConversationsByIDs(%s): %v %v", id, cs, err)
						return
					}
					w := randomChange(rng, *cs[0])
					if r == 9 {
						// The message id of the conversation's creation:
						// a duplicate, found after the row was changed.
						w.Message = newMessage(w.Conversation, "m-"+id+"-1")
					}
					err = s.UpdateConversation(ctx, w)
					switch {
					case err == nil && r == 9:
						fail("UpdateConversation(%s) with a duplicate message id succeeded", id)
					case err == nil, errors.Is(err, domain.ErrVersionConflict):
					case errors.Is(err, domain.ErrDuplicate) && r == 9:
					default:
						fail("UpdateConversation(%s): %v", id, err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	return ids, failures
}

// wantCountsMatchRecount checks every count of workspace ws against a
// recount of its conversations ids.
func wantCountsMatchRecount(t *testing.T, s domain.Store, ws string, ids []string) {
	t.Helper()
	cs, err := s.ConversationsByIDs(ctx, ws, ids)
	if err != nil {
		t.Fatalf("ConversationsByIDs: %v", err)
	}
	var all []domain.Conversation
	for i, c := range cs {
		if c == nil {
			t.Fatalf("conversation %s is missing", ids[i])
		}
		all = append(all, *c)
	}
	filters := []struct {
		name string
		p    domain.OwnerPredicate
	}{
		{"all", domain.OwnerPredicate{Unowned: true, AnyOwner: true}},
		{"unowned", domain.OwnerPredicate{Unowned: true}},
		{"owned by ag-1", domain.OwnerPredicate{Owners: []string{"ag-1"}}},
		{"owned by others than ag-1", domain.OwnerPredicate{AnyOwner: true, Except: []string{"ag-1"}}},
		{"unowned or not ag-2's", domain.OwnerPredicate{Unowned: true, AnyOwner: true, Except: []string{"ag-2"}}},
		{"owned", domain.OwnerPredicate{AnyOwner: true}},
		{"ag-2, ag-3 or unowned", domain.OwnerPredicate{Unowned: true, Owners: []string{"ag-3", "ag-2"}}},
		{"nobody", domain.OwnerPredicate{}},
	}
	channelSets := [][]string{nil, {"ch-2"}, {"ch-1", "ch-3"}, {"ch-9"}}
	for _, st := range countStatuses {
		for _, chs := range channelSets {
			for _, f := range filters {
				q := domain.QueueQuery{WorkspaceID: ws, Status: st, Owners: f.p, ChannelIDs: chs}
				want := len(queueView(all, q))
				got, err := s.CountQueue(ctx, q)
				if err != nil || got != want {
					t.Errorf("CountQueue(%s, %s, channels %v) = %d, %v; a recount says %d", st, f.name, chs, got, err, want)
				}
			}
			per := map[string]int{}
			for _, c := range all {
				if c.Status == st && (len(chs) == 0 || slices.Contains(chs, c.ChannelID)) {
					per[c.OwnerID]++
				}
			}
			var want []domain.OwnerCount
			for _, o := range countOwners {
				if per[o] > 0 {
					want = append(want, domain.OwnerCount{OwnerID: o, Count: per[o]})
				}
			}
			got, err := s.CountOwners(ctx, ws, st, chs)
			if err != nil {
				t.Fatalf("CountOwners: %v", err)
			}
			equal(t, fmt.Sprintf("CountOwners(%s, channels %v)", st, chs), got, want)
		}
	}
}

func testCounts(t *testing.T, f Factory) {
	t.Run("counts equal a recount after random concurrent writes, failed ones included", func(t *testing.T) {
		s := f.New(t)
		// Workspace B's writes interleave with A's, and must count in B only.
		var idsA, idsB, failA, failB []string
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); idsA, failA = countWorkload(s, wsA, 4, 40, 1) }()
		go func() { defer wg.Done(); idsB, failB = countWorkload(s, wsB, 2, 20, 2) }()
		wg.Wait()
		for _, f := range append(failA, failB...) {
			t.Error(f)
		}
		if t.Failed() {
			return
		}
		wantCountsMatchRecount(t, s, wsA, idsA)
		wantCountsMatchRecount(t, s, wsB, idsB)
	})
	t.Run("counts of a workspace without conversations are zero", func(t *testing.T) {
		wantCountsMatchRecount(t, f.New(t), "ws-empty", nil)
	})
}
