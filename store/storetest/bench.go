package storetest

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"switchboard/domain"
)

// BenchData is a seeded benchmark workspace, as each store's benchmark
// writes it in its own fast way.
type BenchData struct {
	WorkspaceID string
	// Me is the caller of the ownership filters.
	Me string
	// Agents are the workspace's agents, at version 1.
	Agents []string
	// New are the NEW conversations, as stored.
	New []domain.Conversation
	// Channels are two channel ids for the channel-filtered pages.
	Channels []string
	// History is a conversation with a long ownership history, as
	// LongHistory makes it; nil skips the history pages.
	History *domain.Conversation
}

// LongHistory is a RESOLVED conversation of workspace ws, on channel ch-0,
// whose owner changed n times, at versions 2 to n+1: passed between the
// agents by me, then resolved. Each store's benchmark writes it.
func LongHistory(ws, me string, agents []string, n int) (domain.Conversation, []domain.OwnershipChange) {
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	c := domain.Conversation{
		WorkspaceID: ws, ID: "cv-long-history", ChannelID: "ch-0", ContactID: "ct-long-history", Seq: 1, Status: domain.StatusNew,
		OwnerEpoch: 1, WaitingSince: start, CreatedAt: start, UpdatedAt: start, Version: 1,
	}
	changes := make([]domain.OwnershipChange, n)
	for i := range changes {
		c.Version++
		c.UpdatedAt = c.UpdatedAt.Add(time.Minute)
		h := domain.OwnershipChange{WorkspaceID: ws, ID: domain.HistoryID(c.ID, c.Version), ConversationID: c.ID, Version: c.Version,
			Status: domain.StatusNew, At: c.UpdatedAt, FromID: c.OwnerID, ToID: agents[i%len(agents)], ActorID: me, Reason: domain.ReasonManual}
		if i == n-1 {
			h.Status, h.ToID, h.Reason = domain.StatusResolved, "", domain.ReasonResolved
		}
		changes[i] = h
		c.Status, c.OwnerID = h.Status, h.ToID
	}
	c.WaitingSince = c.UpdatedAt
	return c, changes
}

// Bench runs the benchmarks every store reports, so stores are measured the
// same way: a queue page of 25 for each ownership filter option (first page,
// and a second page newest first over two channels), its count, the
// per-owner counts, a page of history (the oldest, the newest, and the one
// before the middle) as the domain asks for the default page of 50, and
// setOwner (a conditional write with the owner check and a history entry).
func Bench(b *testing.B, s domain.Store, d BenchData) {
	ctx := context.Background()
	filters := []struct {
		name string
		f    domain.OwnershipFilter
	}{
		{"unowned", domain.OwnershipFilter{Unowned: true}},
		{"ownedByMe", domain.OwnershipFilter{OwnedByMe: true}},
		{"ownedByOthers", domain.OwnershipFilter{OwnedByOthers: true}},
		{"ownerIds3", domain.OwnershipFilter{OwnerIDs: []string{d.Agents[1], d.Agents[12], d.Agents[33]}}},
		{"all", domain.OwnershipFilter{}},
	}
	for _, f := range filters {
		q := domain.QueueQuery{WorkspaceID: d.WorkspaceID, Status: domain.StatusNew, Owners: f.f.Resolve(d.Me), Order: domain.LongestWaiting, Limit: 25}
		b.Run("QueryQueue/"+f.name, func(b *testing.B) {
			for b.Loop() {
				rows, err := s.QueryQueue(ctx, q)
				// 25, or all of a view that has fewer (a smaller workspace).
				if err != nil || len(rows) == 0 || len(rows) > 25 {
					b.Fatalf("QueryQueue: %d rows, %v", len(rows), err)
				}
			}
		})
		b.Run("QueryQueue/"+f.name+"/newest-page2-2channels", func(b *testing.B) {
			q := q
			q.Order, q.ChannelIDs = domain.Newest, d.Channels
			first, err := s.QueryQueue(ctx, q)
			if err != nil {
				b.Fatal(err)
			}
			if len(first) == 0 {
				b.Skip("this view is empty in a workspace this small")
			}
			last := first[len(first)-1]
			q.After = &domain.QueueKey{WaitingSince: last.WaitingSince, ID: last.ID}
			for b.Loop() {
				if _, err := s.QueryQueue(ctx, q); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("CountQueue/"+f.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := s.CountQueue(ctx, q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("CountOwners", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.CountOwners(ctx, d.WorkspaceID, domain.StatusNew, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	if d.History != nil {
		page := domain.HistoryQuery{WorkspaceID: d.WorkspaceID, ConversationID: d.History.ID, Limit: domain.DefaultHistoryPageSize + 1}
		newest, middle := page, page
		newest.NewestFirst = true
		middle.NewestFirst, middle.BeforeVersion = true, d.History.Version/2
		for _, p := range []struct {
			name string
			q    domain.HistoryQuery
		}{{"oldest", page}, {"newest", newest}, {"newest-before-middle", middle}} {
			b.Run("ListHistory/"+p.name, func(b *testing.B) {
				for b.Loop() {
					rows, err := s.ListHistory(ctx, p.q)
					if err != nil || len(rows) != p.q.Limit {
						b.Fatalf("ListHistory: %d rows, %v", len(rows), err)
					}
				}
			})
		}
	}
	b.Run("UpdateConversation/setOwner", func(b *testing.B) {
		rng := rand.New(rand.NewPCG(3, 4))
		i := 0
		for b.Loop() {
			c := &d.New[rng.IntN(len(d.New))]
			owner := d.Agents[i%len(d.Agents)]
			i++
			if owner == c.OwnerID {
				owner = ""
			}
			next := *c
			now := c.UpdatedAt.Add(time.Second)
			next.Version, next.UpdatedAt, next.OwnerID = c.Version+1, now, owner
			w := domain.ConversationWrite{Before: c}
			if owner != "" {
				next.OwnedSince, next.OwnerVersion = &now, next.Version
				w.OwnerCheck = &domain.AgentVersion{AgentID: owner, Version: 1}
			} else {
				next.OwnedSince, next.OwnerVersion = nil, 0
			}
			w.Conversation = next
			w.Change = &domain.OwnershipChange{WorkspaceID: d.WorkspaceID, ID: domain.HistoryID(c.ID, next.Version), ConversationID: c.ID,
				Version: next.Version, Status: next.Status, At: now, FromID: c.OwnerID, ToID: owner, ActorID: d.Me, Reason: domain.ReasonManual}
			if err := s.UpdateConversation(ctx, w); err != nil {
				b.Fatal(err)
			}
			*c = next
		}
	})
}
