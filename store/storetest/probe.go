package storetest

import (
	"testing"

	"switchboard/domain"
)

// testProbe: the probe record is written again and again (every instance
// writes it every second), publishes nothing and is seen by no workspace.
func testProbe(t *testing.T, f Factory) {
	var s domain.Store
	rec := &recorder{}
	if f.NewPublishing != nil {
		s = f.NewPublishing(t, rec)
	} else {
		s = f.New(t)
	}
	for i := range 3 {
		if err := s.WriteProbe(ctx, at(i)); err != nil {
			t.Fatalf("WriteProbe %d: %v", i, err)
		}
	}
	// An older time, as another instance's clock may give, is written too.
	if err := s.WriteProbe(ctx, at(-1_000)); err != nil {
		t.Fatalf("WriteProbe of an older time: %v", err)
	}
	if got := rec.take(); len(got) != 0 {
		t.Errorf("WriteProbe published %d events, want none", len(got))
	}
	if agents, err := s.ListAgents(ctx, wsA, domain.AgentFilter{IncludeInactive: true}); err != nil || len(agents) != 0 {
		t.Errorf("ListAgents after WriteProbe: %v, %v; want none", agents, err)
	}
}
