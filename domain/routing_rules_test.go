package domain

import (
	"fmt"
	"testing"
	"time"
)

func TestRoutingMemoryOfAConversation(t *testing.T) {
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	ann := &Agent{ID: "ann", Presence: Online, Version: 3}
	c := Conversation{WorkspaceID: "ws", ID: "cv", Status: StatusNew, Version: 1, WaitingSince: now}

	// Routed with a deadline; the owner's reply clears it.
	w := ruleRoute(c, ann, 2, 30, now).write()
	if w.Conversation.OwnerID != "ann" || w.Conversation.UnansweredAt == nil || !w.Conversation.UnansweredAt.Equal(now.Add(30*time.Second)) ||
		w.LoadBelow == nil || w.LoadBelow.Capacity != 2 || w.OwnerCheck == nil || w.OwnerCheck.Version != 3 ||
		w.Change.Reason != ReasonRouting || w.Change.ActorID != "" {
		t.Fatalf("routed: %+v, %+v", w.Conversation, w.Change)
	}
	p, err := ruleReply(w.Conversation, replyRule{author: ann, text: "hi", messageID: "m"}, now)
	if err != nil || p.write().Conversation.UnansweredAt != nil {
		t.Fatalf("a reply of the owner left the deadline: %v", err)
	}
	// Due: taken back, the owner excluded; not before, nor another deadline.
	at := *w.Conversation.UnansweredAt
	if ruleUnanswered(w.Conversation, at, at.Add(-time.Millisecond)).changed() || ruleUnanswered(w.Conversation, at.Add(time.Second), at.Add(time.Hour)).changed() {
		t.Fatal("taken back early, or for another deadline")
	}
	back := ruleUnanswered(w.Conversation, at, at).write().Conversation
	if back.OwnerID != "" || back.UnansweredAt != nil || !back.RoutingExcludes("ann") {
		t.Fatalf("taken back: %+v", back)
	}

	// The exclusions keep the latest MaxRoutingExcluded.
	for i := range MaxRoutingExcluded + 5 {
		a := &Agent{ID: fmt.Sprint("ag-", i)}
		p := newPlan(back, now)
		p.assign(a, ReasonManual, a.ID)
		owned := p.write().Conversation
		back = unownedBy(t, owned, a.ID, now)
	}
	if n := len(back.RoutingExcluded); n != MaxRoutingExcluded || back.RoutingExcluded[n-1] != fmt.Sprint("ag-", MaxRoutingExcluded+4) ||
		back.RoutingExcludes("ann") {
		t.Fatalf("exclusions %v", back.RoutingExcluded)
	}

	// Resolved: the owner at resolve is kept, routing's memory of NEW gone;
	// reopened: forgotten.
	p = newPlan(back, now)
	p.assign(ann, ReasonManual, "ada")
	owned := p.write().Conversation
	resolved := ruleResolve(owned, "ann", now).write().Conversation
	if resolved.ResolvedOwnerID != "ann" || len(resolved.RoutingExcluded) != 0 {
		t.Fatalf("resolved: %+v", resolved)
	}
	reopened := ruleMoveToNew(resolved, "ann", now).write().Conversation
	if reopened.ResolvedOwnerID != "" || reopened.OwnerID != "" {
		t.Fatalf("reopened: %+v", reopened)
	}
}

// unownedBy has agentID set c Unowned themselves.
func unownedBy(t *testing.T, c Conversation, agentID string, now time.Time) Conversation {
	t.Helper()
	p, err := ruleSetOwner(c, nil, agentID, now)
	if err != nil {
		t.Fatal(err)
	}
	return p.write().Conversation
}
