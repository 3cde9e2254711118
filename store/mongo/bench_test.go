package mongostore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"switchboard/domain"
	mongostore "switchboard/store/mongo"
	"switchboard/store/mongo/mongotest"
)

// The benchmark workspace, as store/sqlite's (same generator, same seeds):
// 10,000 conversations by default (SWITCHBOARD_BENCH_CONVERSATIONS to
// change it; FerretDB scans every filter but _id, so more take long), 50
// agents, 5 channels. A quarter wait in NEW (40% of them unowned), 15% in
// PENDING (10% unowned), the rest are RESOLVED; owners are skewed.
const (
	benchWS       = "ws-bench"
	benchAgents   = 50
	benchChannels = 5
	benchMe       = "ag-07"
)

func benchSize(def int) int {
	if n, err := strconv.Atoi(os.Getenv("SWITCHBOARD_BENCH_CONVERSATIONS")); err == nil && n > 0 {
		return n
	}
	return def
}

func benchAgent(i int) string { return fmt.Sprintf("ag-%02d", i) }

// benchData is the benchmark's conversations and agents, and its NEW
// conversations.
func benchData(n int) (convs []domain.Conversation, agents []domain.Agent, open []domain.Conversation) {
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range benchAgents {
		agents = append(agents, domain.Agent{WorkspaceID: benchWS, ID: benchAgent(i), Name: fmt.Sprintf("Agent %d", i), Role: domain.RoleAgent,
			Active: true, Presence: domain.Online, PresenceSince: start, OfflineEpoch: 1, LastSeenAt: start, CreatedAt: start, UpdatedAt: start, Version: 1})
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var weights []int
	for i := range benchAgents {
		for range 10 / (i%10 + 1) {
			weights = append(weights, i)
		}
	}
	for i := range n {
		status, owner := domain.StatusResolved, ""
		switch r := rng.IntN(100); {
		case r < 25:
			status = domain.StatusNew
			if rng.IntN(100) >= 40 {
				owner = benchAgent(weights[rng.IntN(len(weights))])
			}
		case r < 40:
			status = domain.StatusPending
			if rng.IntN(100) >= 10 {
				owner = benchAgent(weights[rng.IntN(len(weights))])
			}
		}
		waiting := start.Add(time.Duration(rng.Int64N(int64(30 * 24 * time.Hour)))).Truncate(time.Millisecond)
		c := domain.Conversation{
			WorkspaceID: benchWS, ID: domain.ConversationID(benchWS, fmt.Sprintf("ct-%d", i), 1), ChannelID: fmt.Sprintf("ch-%d", i%benchChannels),
			ContactID: fmt.Sprintf("ct-%d", i), Seq: 1, Status: status, OwnerID: owner, OwnerEpoch: 1, WaitingSince: waiting,
			CreatedAt: waiting, UpdatedAt: waiting, Version: 1,
		}
		if owner != "" {
			c.OwnedSince, c.OwnerVersion = &waiting, 1
		}
		convs = append(convs, c)
		if status == domain.StatusNew {
			open = append(open, c)
		}
	}
	return convs, agents, open
}

func BenchmarkStore(b *testing.B) {
	ctx := context.Background()
	s := mongotest.New(b, mongostore.Options{OpTimeout: time.Minute})
	convs, agents, newConvs := benchData(benchSize(10_000))
	if err := mongostore.Seed(ctx, s, convs, agents); err != nil {
		b.Fatal(err)
	}
	filters := []struct {
		name string
		f    domain.OwnershipFilter
	}{
		{"unowned", domain.OwnershipFilter{Unowned: true}},
		{"ownedByMe", domain.OwnershipFilter{OwnedByMe: true}},
		{"ownedByOthers", domain.OwnershipFilter{OwnedByOthers: true}},
		{"ownerIds3", domain.OwnershipFilter{OwnerIDs: []string{benchAgent(1), benchAgent(12), benchAgent(33)}}},
		{"all", domain.OwnershipFilter{}},
	}
	for _, f := range filters {
		q := domain.QueueQuery{WorkspaceID: benchWS, Status: domain.StatusNew, Owners: f.f.Resolve(benchMe), Order: domain.LongestWaiting, Limit: 25}
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
			q.Order, q.ChannelIDs = domain.Newest, []string{"ch-1", "ch-2"}
			first, err := s.QueryQueue(ctx, q)
			if err != nil || len(first) == 0 {
				b.Fatalf("QueryQueue: %d rows, %v", len(first), err)
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
			if _, err := s.CountOwners(ctx, benchWS, domain.StatusNew, nil); err != nil {
				b.Fatal(err)
			}
		}
	})

	// setOwner: assign a NEW conversation to an agent, conditional on the
	// conversation's and the agent's versions, with its history entry.
	b.Run("UpdateConversation/setOwner", func(b *testing.B) {
		rng := rand.New(rand.NewPCG(3, 4))
		i := 0
		for b.Loop() {
			c := &newConvs[rng.IntN(len(newConvs))]
			owner := benchAgent(i % benchAgents)
			i++
			if owner == c.OwnerID {
				owner = ""
			}
			next := *c
			now := c.UpdatedAt.Add(time.Second)
			next.Version, next.UpdatedAt, next.OwnerID = c.Version+1, now, owner
			w := domain.ConversationWrite{Conversation: next, Before: c}
			if owner != "" {
				next.OwnedSince, next.OwnerVersion = &now, next.Version
				w.OwnerCheck = &domain.AgentVersion{AgentID: owner, Version: 1}
			} else {
				next.OwnedSince, next.OwnerVersion = nil, 0
			}
			w.Conversation = next
			w.Change = &domain.OwnershipChange{WorkspaceID: benchWS, ID: domain.HistoryID(c.ID, next.Version), ConversationID: c.ID,
				Version: next.Version, Status: next.Status, At: now, FromID: c.OwnerID, ToID: owner, ActorID: benchMe, Reason: domain.ReasonManual}
			if err := s.UpdateConversation(ctx, w); err != nil {
				b.Fatal(err)
			}
			*c = next
		}
	})
}
