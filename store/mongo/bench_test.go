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
	"switchboard/store/storetest"
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
	s := mongotest.New(b, mongostore.Options{OpTimeout: time.Minute})
	convs, agents, newConvs := benchData(benchSize(10_000))
	ids := make([]string, benchAgents)
	for i := range ids {
		ids[i] = benchAgent(i)
	}
	// The same long history as store/sqlite's: 10,000 ownership changes.
	long, history := storetest.LongHistory(benchWS, benchMe, ids, 10_000)
	if err := mongostore.Seed(context.Background(), s, append(convs, long), history, agents); err != nil {
		b.Fatal(err)
	}
	storetest.Bench(b, s, storetest.BenchData{
		WorkspaceID: benchWS, Me: benchMe, Agents: ids, New: newConvs, Channels: []string{"ch-1", "ch-2"}, History: &long,
	})
}
