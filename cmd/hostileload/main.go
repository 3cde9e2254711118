// Command hostileload measures how much hostile documents slow a healthy
// client: it times a healthy query alone, then again while -clients
// attackers send every document of internal/hostile in a loop, each made
// new with a comment so that no cache helps, and prints both latencies'
// p50 and p99 and their ratio.
//
// The attackers hold one admin's token (so introspection is tried too); the
// healthy client is an agent of another workspace. Start a server first (a
// real one: `switchboard serve`, so introspection is priced as in
// production), then give the tool the server's HS256 secret to mint both:
//
//	SWITCHBOARD_JWT_SECRET=... go run ./cmd/hostileload -url http://127.0.0.1:8080/graphql
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"switchboard/internal/hostile"
	"switchboard/server"
)

func main() {
	endpoint := flag.String("url", "http://127.0.0.1:8080/graphql", "GraphQL endpoint of a running server")
	secret := flag.String("secret", os.Getenv("SWITCHBOARD_JWT_SECRET"), "the server's HS256 secret, to mint the tokens [SWITCHBOARD_JWT_SECRET]")
	clients := flag.Int("clients", 32, "attackers sending hostile documents at once")
	duration := flag.Duration("duration", 20*time.Second, "how long each phase measures")
	interval := flag.Duration("interval", 20*time.Millisecond, "pause between two healthy queries")
	flag.Parse()
	if *secret == "" {
		fmt.Fprintln(os.Stderr, "hostileload: -secret is required")
		os.Exit(2)
	}
	mint := func(ws, sub, role string) string {
		tok, err := server.MintHS256([]byte(*secret), server.TokenRequest{
			Subject: sub, WorkspaceID: ws, Role: role, Name: sub, TTL: time.Hour,
		}, time.Now())
		if err != nil {
			fmt.Fprintln(os.Stderr, "hostileload:", err)
			os.Exit(2)
		}
		return tok
	}
	attacker, healthy := mint("hostile", "mallory", "admin"), mint("healthy", "ben", "agent")
	if err := run(*endpoint, attacker, healthy, *clients, *duration, *interval); err != nil {
		fmt.Fprintln(os.Stderr, "hostileload:", err)
		os.Exit(1)
	}
}

func run(endpoint, attacker, token string, clients int, duration, interval time.Duration) error {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients + 4}, Timeout: time.Minute}
	healthy := mustJSON(map[string]any{"query": hostile.Healthy})
	if _, err := send(client, endpoint, token, healthy); err != nil {
		return fmt.Errorf("a healthy query fails before any load: %w", err)
	}
	fmt.Printf("host: %d cores (GOMAXPROCS %d of this tool)\n", runtime.NumCPU(), runtime.GOMAXPROCS(0))

	idle, err := measure(client, endpoint, token, healthy, duration, interval)
	if err != nil {
		return err
	}
	report("healthy query, idle", idle)

	ctx, stop := context.WithCancel(context.Background())
	var sent, failed atomic.Int64
	var wg sync.WaitGroup
	// Each document is encoded once, around a place for a comment that is
	// new each time, so that no cache helps the server and the attackers
	// spend little of the machine's CPU on their side.
	type bodyParts struct{ before, after []byte }
	var bodies []bodyParts
	for _, d := range hostile.Documents() {
		b := mustJSON(map[string]any{"query": d.Query + "\n#\u0000", "operationName": d.OperationName})
		before, after, _ := bytes.Cut(b, []byte(`\u0000`))
		bodies = append(bodies, bodyParts{before, after})
	}
	for c := range clients {
		wg.Go(func() {
			for i := c; ctx.Err() == nil; i += clients {
				parts := bodies[i%len(bodies)]
				body := append(append(append([]byte{}, parts.before...), strconv.Itoa(i)...), parts.after...)
				if _, err := send(client, endpoint, attacker, body); err != nil && ctx.Err() == nil {
					failed.Add(1)
				}
				sent.Add(1)
			}
		})
	}
	time.Sleep(time.Second) // let the attack reach its pace
	under, err := measure(client, endpoint, token, healthy, duration, interval)
	stop()
	wg.Wait()
	if err != nil {
		return err
	}
	report(fmt.Sprintf("healthy query, %d attackers", clients), under)
	fmt.Printf("hostile documents sent: %d (%d not answered 200), %.0f/s\n",
		sent.Load(), failed.Load(), float64(sent.Load())/(duration+time.Second).Seconds())
	fmt.Printf("ratio under attack / idle: p50 %.2f×, p99 %.2f×\n",
		ratio(under, idle, 0.50), ratio(under, idle, 0.99))
	return nil
}

// measure times the healthy query every interval for d.
func measure(client *http.Client, endpoint, token string, body []byte, d, interval time.Duration) ([]time.Duration, error) {
	var took []time.Duration
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(interval) {
		start := time.Now()
		if _, err := send(client, endpoint, token, body); err != nil {
			return nil, fmt.Errorf("a healthy query failed: %w", err)
		}
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	return took, nil
}

func send(client *http.Client, endpoint, token string, body []byte) ([]byte, error) {
	req, err := http.NewRequest(http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return b, errors.New("HTTP " + resp.Status + ": " + string(b))
	}
	return b, nil
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

func ratio(a, b []time.Duration, q float64) float64 {
	return float64(quantile(a, q)) / float64(quantile(b, q))
}

func report(what string, took []time.Duration) {
	fmt.Printf("%s: %d requests, p50 %v, p99 %v, max %v\n", what, len(took),
		quantile(took, 0.50).Round(time.Microsecond), quantile(took, 0.99).Round(time.Microsecond),
		took[len(took)-1].Round(time.Microsecond))
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
