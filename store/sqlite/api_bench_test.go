package sqlite_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"switchboard/apitest"
	"switchboard/app"
	"switchboard/domain"
	"switchboard/internal/fakeclock"
	"switchboard/metrics"
	"switchboard/server"
	"switchboard/store/sqlite"
)

// BenchmarkAPI measures what a client sees, through HTTP and GraphQL, on the
// benchmark workspace (100,000 conversations): a page of 25 of the NEW queue
// with each ownership filter option (rows with owner, label, channel and
// contact, and the total count), a page of a conversation's history of
// 10,000 ownership changes (the default oldest 50, the newest 5 and 50, and
// the 50 before the middle) with the agents of each change, and setOwner.
func BenchmarkAPI(b *testing.B) {
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), sqlite.DBFile)
	newConvs := seedBench(b, path)
	history := seedHistory(b, path)
	seedRefs(b, path)
	s, err := sqlite.OpenFile(ctx, path, quiet)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	secret := benchKeys.Secret
	// Every request's store calls are timed, so each sub-benchmark reports
	// the request's time beside the time of the store calls it made, both
	// measured in the same run: their ratio is what the request costs on
	// top of its store. Metrics on, as `switchboard serve` has them by
	// default: the figures are part of the request path measured.
	counting := apitest.NewCountingStore(s)
	a, err := app.New(ctx, app.Config{Store: app.UseStore(counting), Keys: benchKeys, Logger: quiet.Logger, Metrics: metrics.New()})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Shutdown(ctx)
	api := httptest.NewServer(a.Handler())
	defer api.Close()
	token, err := server.MintHS256(secret, server.TokenRequest{Subject: benchMe, WorkspaceID: benchWS, Role: "agent", Name: "Agent 7", TTL: time.Hour}, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	// loop runs request for b.Loop and reports its store calls and their
	// time per request.
	loop := func(b *testing.B, request func()) {
		counting.Reset()
		for b.Loop() {
			request()
		}
		_, total := counting.Calls()
		storeNs := float64(counting.Elapsed().Nanoseconds()) / float64(b.N)
		b.ReportMetric(float64(total)/float64(b.N), "store-calls/op")
		b.ReportMetric(storeNs, "store-ns/op")
		if el := b.Elapsed(); storeNs > 0 {
			b.ReportMetric(float64(el.Nanoseconds())/float64(b.N)/storeNs, "x-store")
		}
	}
	postTo := func(b *testing.B, server *httptest.Server, query string, vars map[string]any) []byte {
		body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
		req, _ := http.NewRequest(http.MethodPost, server.URL+"/graphql", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := server.Client().Do(req)
		if err != nil {
			b.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || bytes.Contains(out, []byte(`"errors"`)) {
			b.Fatalf("HTTP %d %s", resp.StatusCode, out)
		}
		return out
	}
	post := func(b *testing.B, query string, vars map[string]any) []byte { return postTo(b, api, query, vars) }
	const page = `query($f: OwnershipFilter) { queue(status: NEW, ownership: $f, first: 25) { totalCount
		edges { cursor node { id version waitingSince ownershipLabel owner { id name presence } channel { name } contact { name } } } } }`
	for _, f := range []struct {
		name   string
		filter map[string]any
	}{
		{"unowned", map[string]any{"unowned": true}},
		{"ownedByMe", map[string]any{"ownedByMe": true}},
		{"ownedByOthers", map[string]any{"ownedByOthers": true}},
		{"ownerIds3", map[string]any{"ownerIds": []string{benchAgent(1), benchAgent(12), benchAgent(33)}}},
		{"all", nil},
	} {
		b.Run("queue/"+f.name, func(b *testing.B) {
			loop(b, func() { post(b, page, map[string]any{"f": f.filter}) })
		})
	}
	// The badge counts every agent's screen asks for after every change.
	b.Run("queueCounts", func(b *testing.B) {
		loop(b, func() {
			post(b, `{ queueCounts(status: NEW) { total unowned ownedByMe ownedByOthers byOwner { count owner { id name } } } }`, nil)
		})
	})
	const historyPage = `query($id: ID!, $first: Int, $last: Int, $before: String) { conversation(id: $id) {
		history(first: $first, last: $last, before: $before) { edges { cursor node { at version status reason from { name } to { name } actor { name } } }
			pageInfo { hasPreviousPage hasNextPage startCursor endCursor } } } }`
	// The cursor at the middle of the history, walked back to from the
	// newest change as a client would.
	var middle string
	for range benchHistory / 2 / 100 {
		var out struct {
			Data struct {
				Conversation struct {
					History struct{ PageInfo struct{ StartCursor string } }
				}
			}
		}
		vars := map[string]any{"id": history.ID, "last": 100}
		if middle != "" {
			vars["before"] = middle
		}
		if err := json.Unmarshal(post(b, historyPage, vars), &out); err != nil {
			b.Fatal(err)
		}
		middle = out.Data.Conversation.History.PageInfo.StartCursor
	}
	for _, p := range []struct {
		name string
		vars map[string]any
	}{
		{"oldest50", map[string]any{}},
		{"newest5", map[string]any{"last": 5}},
		{"newest50", map[string]any{"last": 50}},
		{"newest50-before-middle", map[string]any{"last": 50, "before": middle}},
	} {
		p.vars["id"] = history.ID
		b.Run("history/"+p.name, func(b *testing.B) {
			loop(b, func() { post(b, historyPage, p.vars) })
		})
	}
	// httpFloor: me's request, sent the same way, to a handler that only
	// reads it and writes me's answer: what HTTP and this client cost, in
	// the same run, beneath every figure here.
	b.Run("httpFloor", func(b *testing.B) {
		answer := post(b, `{ me { id } }`, nil)
		floor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.ReadAll(r.Body)
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(answer)
		}))
		defer floor.Close()
		for b.Loop() {
			postTo(b, floor, `{ me { id } }`, nil)
		}
	})
	// me: the smallest authenticated request, mostly the cost of
	// authentication, whose sign of life is written at most every few
	// seconds per agent.
	b.Run("me", func(b *testing.B) {
		loop(b, func() { post(b, `{ me { id } }`, nil) })
	})
	// me/signOfLifeDue: the same on a clock moved past the sign-of-life
	// interval before each request, so that every request has one to
	// record.
	b.Run("me/signOfLifeDue", func(b *testing.B) {
		// After the stored sign of life, which an earlier run of this
		// benchmark may have moved ahead of the real time.
		start := time.Now()
		if me, err := s.AgentsByIDs(ctx, benchWS, []string{benchMe}); err == nil && me[0] != nil && me[0].LastSeenAt.After(start) {
			start = me[0].LastSeenAt
		}
		clock := fakeclock.New(start)
		due, err := app.New(ctx, app.Config{Store: app.UseStore(s), Keys: benchKeys, Logger: quiet.Logger, Clock: clock})
		if err != nil {
			b.Fatal(err)
		}
		defer due.Shutdown(ctx)
		dueAPI := httptest.NewServer(due.Handler())
		defer dueAPI.Close()
		dueToken, err := server.MintHS256(secret, server.TokenRequest{Subject: benchMe, WorkspaceID: benchWS, Role: "agent", Name: "Agent 7",
			TTL: 24 * 365 * time.Hour}, clock.Now())
		if err != nil {
			b.Fatal(err)
		}
		body := []byte(`{"query":"{ me { id } }"}`)
		for b.Loop() {
			clock.Advance(domain.DefaultPresenceTimeout)
			req, _ := http.NewRequest(http.MethodPost, dueAPI.URL+"/graphql", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+dueToken)
			resp, err := dueAPI.Client().Do(req)
			if err != nil {
				b.Fatal(err)
			}
			out, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || bytes.Contains(out, []byte(`"errors"`)) {
				b.Fatalf("HTTP %d %s", resp.StatusCode, out)
			}
		}
	})
	b.Run("setOwner", func(b *testing.B) {
		rng := rand.New(rand.NewPCG(5, 6))
		i := 0
		loop(b, func() {
			c := newConvs[rng.IntN(len(newConvs))]
			post(b, `mutation($in: SetOwnerInput!) { setOwner(input: $in) { conversation { version owner { id } } } }`,
				map[string]any{"in": map[string]any{"conversationId": c.ID, "ownerId": fmt.Sprintf("ag-%02d", i%benchAgents)}})
			i++
		})
	})
}

// seedRefs adds the channels and contacts the benchmark's conversations
// refer to, which the store benchmarks do not need.
func seedRefs(b *testing.B, path string) {
	b.Helper()
	tx, commit := seedTx(b, path)
	defer commit()
	for i := range benchChannels {
		if _, err := tx.Exec(`INSERT INTO channels (workspace_id, id, name, created_at) VALUES (?, ?, ?, 0)`,
			benchWS, fmt.Sprintf("ch-%d", i), fmt.Sprintf("Channel %d", i)); err != nil {
			b.Fatal(err)
		}
	}
	stmt, err := tx.Prepare(`INSERT INTO contacts (workspace_id, id, channel_id, external_id, name, created_at) VALUES (?, ?, ?, ?, ?, 0)`)
	if err != nil {
		b.Fatal(err)
	}
	for i := range benchConvs {
		if _, err := stmt.Exec(benchWS, fmt.Sprintf("ct-%d", i), fmt.Sprintf("ch-%d", i%benchChannels), fmt.Sprintf("ext-%d", i),
			fmt.Sprintf("Customer %d", i)); err != nil {
			b.Fatal(err)
		}
	}
}
