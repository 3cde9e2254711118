package main

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"
)

// A small run of the load tool, so it keeps working: the numbers it prints
// are only meaningful from a build without -race, with many subscribers.
func TestSmallInProcessRun(t *testing.T) {
	var out strings.Builder
	o := options{n: 5, rounds: 3, warmup: 1, concurrency: 2, workspace: "wsload-test", subs: 2, burst: 10, writers: 2}
	if err := runInProcess(context.Background(), o, &out); err != nil {
		t.Fatal(err)
	}
	t.Log(out.String())
	for _, want := range []string{
		"5 WebSocket subscribers", "runtime.NumCPU() = ", "client and server share it",
		"memory per idle subscriber", "at ALL 5 subscribers", "per-subscriber delivery (15 samples)",
		"each socket holds 2 subscriptions", "burst: 2 writers sent 10 setOwner mutations", "5 sockets still open", "peak memory",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	if strings.Contains(out.String(), "unexpected messages") {
		t.Error("subscribers got messages other than the rounds' events")
	}
	if m := regexp.MustCompile(`delivered (\d+) of (\d+) events`).FindStringSubmatch(out.String()); m == nil || m[1] != m[2] || m[1] == "0" {
		t.Errorf("the burst's events did not all arrive: %v", m)
	}
}

// A small run of -activity: viewers get their snapshots and typing is
// answered.
func TestSmallActivityRun(t *testing.T) {
	var out strings.Builder
	o := options{n: 6, conversations: 2, concurrency: 3, workspace: "wsload-activity", duration: 3 * time.Second}
	if err := runActivity(context.Background(), o, &out); err != nil {
		t.Fatal(err)
	}
	t.Log(out.String())
	for _, want := range []string{"6 agents viewing 2 conversations (3 each)", "runtime.NumCPU() = ", "per viewer", "0 failed", "% of one core"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	if m := regexp.MustCompile(`(\d+) setTyping calls sent .*?(\d+) answered`).FindStringSubmatch(out.String()); m == nil || m[1] == "0" || m[1] != m[2] {
		t.Errorf("setTyping calls and answers: %v", m)
	}
}

// A small -compare run: the floor answers the same rounds as the server,
// and the summary puts them side by side.
func TestSmallCompareRun(t *testing.T) {
	var out strings.Builder
	o := options{n: 4, rounds: 3, warmup: 1, concurrency: 2, workspace: "wsload-compare", subs: 2}
	if err := runCompare(context.Background(), o, &out); err != nil {
		t.Fatal(err)
	}
	t.Log(out.String())
	for _, want := range []string{"== floor (bare coder/websocket broadcaster)", "== server", "== side by side: 4 subscribers", "server/floor: median"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	if strings.Contains(out.String(), "unexpected messages") {
		t.Error("subscribers got messages other than the rounds' events")
	}
}

// A small run of -counts: every subscriber gets its snapshots, at most one
// a second.
func TestSmallCountsRun(t *testing.T) {
	var out strings.Builder
	o := options{n: 5, concurrency: 2, workspace: "wsload-counts", duration: 3 * time.Second, rate: 20}
	if err := runCounts(context.Background(), o, &out); err != nil {
		t.Fatal(err)
	}
	t.Log(out.String())
	for _, want := range []string{"5 agents hold queueCountsChanged", "runtime.NumCPU() = ", "floor:", "subscribed:", "5 of 5 subscribers had one", "subscribed/floor: CPU"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	// The least time between two snapshots as received is not checked:
	// the server spaces them a second apart, but their delivery jitters.
}

// A small -morning run: every agent who signs in is filled to capacity,
// nobody above it, loads level, in both modes.
func TestSmallMorningRun(t *testing.T) {
	var out strings.Builder
	o := options{workspace: "wsload-morning", agents: 4, waiting: 40, signInOver: time.Second, routingModes: "BALANCED,ROUND_ROBIN"}
	if err := runMorning(context.Background(), o, &out); err != nil {
		t.Fatal(err)
	}
	t.Log(out.String())
	for _, want := range []string{"4 agents (OFFLINE", "runtime.NumCPU() = ", "BALANCED: seeded 40", "ROUND_ROBIN: seeded 40",
		"4 of 4 filled, 0 not", "of which sign-in to the first assignment", "the sign-in alone (dial to connection_ack, the floor)", "agents above capacity at any moment: 0 (highest load seen 5); routed changes 20, others 0", "min 5 max 5 spread 0"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the report lacks %q", want)
		}
	}
}
