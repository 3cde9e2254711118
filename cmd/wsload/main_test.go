package main

import (
	"context"
	"strings"
	"testing"
)

// A small run of the load tool, so it keeps working: the numbers it prints
// are only meaningful from a build without -race, with many subscribers.
func TestSmallInProcessRun(t *testing.T) {
	var out strings.Builder
	o := options{n: 5, rounds: 3, warmup: 1, concurrency: 2, workspace: "wsload-test"}
	if err := runInProcess(context.Background(), o, &out); err != nil {
		t.Fatal(err)
	}
	t.Log(out.String())
	for _, want := range []string{
		"5 WebSocket subscribers", "runtime.NumCPU() = ", "client and server share it",
		"memory per idle subscriber", "at ALL 5 subscribers", "per-subscriber delivery (15 samples)",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	if strings.Contains(out.String(), "unexpected messages") {
		t.Error("subscribers got messages other than the rounds' events")
	}
}
