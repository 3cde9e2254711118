package domain

import "time"

// The rules are plain functions of (conversation, command, actor, now): they
// return the conversation's next state and its history entry, or an error, or
// report that the command changes nothing. The Service loads, applies a rule,
// and writes the result conditionally.

// plan is a change being built on a copy of a conversation.
type plan struct {
	before  Conversation
	next    Conversation
	now     time.Time
	message *Message
	// ownerChange is the reason and actor of the ownership change, if the
	// plan changes the owner.
	reason  Reason
	actorID string
	// newOwner is the agent the plan assigns, if it assigns one.
	newOwner *Agent
	// ownerCheck is the agent record the write depends on, if any.
	ownerCheck *AgentVersion
	// loadBelow is routing's capacity condition on the new owner, if any.
	loadBelow *LoadCheck
	// unansweredAt is the take-back deadline a routing assignment sets.
	unansweredAt *time.Time
	// exclude is an agent routing must not give the conversation back to
	// during this stay in NEW: who set it Unowned, or from whom a rule took it.
	exclude string
}

func newPlan(c Conversation, now time.Time) *plan {
	return &plan{before: c, next: c, now: Truncate(now)}
}

// setStatus moves the conversation to queue s; entering a queue restarts
// waitingSince, and only PENDING keeps a boomerang.
func (p *plan) setStatus(s QueueStatus) {
	if p.next.Status == s {
		return
	}
	p.next.Status = s
	p.next.WaitingSince = p.now
	if s != StatusPending {
		p.next.BoomerangAt = nil
	}
	if s == StatusResolved {
		p.clearOwner(ReasonResolved, p.actorID)
	}
}

// assign makes agent the owner, recording the epoch and presence the
// offline rules need.
func (p *plan) assign(agent *Agent, reason Reason, actorID string) {
	if p.next.OwnerID == agent.ID {
		return
	}
	p.next.OwnerID = agent.ID
	p.newOwner = agent
	p.reason, p.actorID = reason, actorID
	p.ownerCheck = &AgentVersion{AgentID: agent.ID, Version: agent.Version}
}

// clearOwner leaves the conversation unowned.
func (p *plan) clearOwner(reason Reason, actorID string) {
	prev := p.next.OwnerID
	if prev == "" {
		return
	}
	switch reason {
	case ReasonManual:
		if actorID == prev {
			p.exclude = prev
		}
	case ReasonLogoutCleanup, ReasonInboundWhileOffline, ReasonBoomerangWhileOffline, ReasonUnanswered:
		p.exclude = prev
	}
	p.next.OwnerID = ""
	p.newOwner = nil
	p.reason, p.actorID = reason, actorID
}

// changed reports whether the plan changes anything a client can see.
func (p *plan) changed() bool {
	b, n := p.before, p.next
	return p.message != nil || b.Status != n.Status || b.OwnerID != n.OwnerID ||
		!timePtrEqual(b.BoomerangAt, n.BoomerangAt)
}

// write finishes the plan as one change: the next version, the owner fields,
// and the history entry of the net ownership change.
func (p *plan) write() ConversationWrite {
	b := p.before
	n := p.next
	n.Version = b.Version + 1
	n.UpdatedAt = p.now
	w := ConversationWrite{Before: &b, OwnerCheck: p.ownerCheck, LoadBelow: p.loadBelow}
	p.routingState(&n)
	if n.OwnerID != b.OwnerID {
		if n.OwnerID == "" {
			n.OwnedSince, n.OwnerEpoch, n.AssignedWhileOffline, n.OwnerVersion = nil, 0, false, 0
		} else {
			owner := p.newOwner
			since := p.now
			n.OwnedSince = &since
			n.OwnerEpoch = owner.OfflineEpoch
			// An assignment is missed when the owner was OFFLINE and someone
			// else made it: an agent who takes a conversation knows it.
			n.AssignedWhileOffline = owner.Presence == Offline && p.actorID != owner.ID
			n.OwnerVersion = n.Version
		}
		w.Change = &OwnershipChange{
			WorkspaceID:    n.WorkspaceID,
			ID:             HistoryID(n.ID, n.Version),
			ConversationID: n.ID,
			Version:        n.Version,
			Status:         n.Status,
			At:             p.now,
			FromID:         b.OwnerID,
			ToID:           n.OwnerID,
			ActorID:        p.actorID,
			Reason:         p.reason,
		}
	}
	if p.message != nil {
		m := *p.message
		m.ConversationID = n.ID
		m.WorkspaceID = n.WorkspaceID
		m.Version = n.Version
		m.CreatedAt = p.now
		if m.Direction == Outbound {
			// A reply is PENDING delivery from the change that writes it.
			m.ChannelID = n.ChannelID
			m.Delivery = &Delivery{Status: DeliveryPending, At: p.now, Version: n.Version}
		}
		w.Message = &m
	}
	w.Conversation = n
	if w.Change != nil {
		snapshot := n
		w.Change.Conversation = &snapshot
	}
	return w
}

// routingState keeps routing's memory of the conversation: what holds for
// one stay in NEW ends when it leaves NEW (or enters it afresh); any owner
// change ends an unanswered deadline but the one a routing assignment sets;
// the owner at resolve is kept while RESOLVED.
func (p *plan) routingState(n *Conversation) {
	b := p.before
	switch {
	case n.Status != StatusNew:
		n.RoutingExcluded, n.UnansweredAt, n.PreferredAgentID = nil, nil, ""
	case b.Status != StatusNew:
		n.RoutingExcluded = nil
	}
	if n.OwnerID != b.OwnerID {
		n.UnansweredAt = p.unansweredAt
	}
	if p.exclude != "" && n.Status == StatusNew && !n.RoutingExcludes(p.exclude) {
		ex := append(append([]string(nil), n.RoutingExcluded...), p.exclude)
		if len(ex) > MaxRoutingExcluded {
			ex = ex[len(ex)-MaxRoutingExcluded:]
		}
		n.RoutingExcluded = ex
	}
	switch {
	case n.Status == StatusResolved && b.Status != StatusResolved:
		n.ResolvedOwnerID = b.OwnerID
	case n.Status != StatusResolved:
		n.ResolvedOwnerID = ""
	}
}

func timePtrEqual(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Equal(*b)
}

// errResolvedNoOwner is the answer to giving a RESOLVED conversation an owner.
func errResolvedNoOwner() *Error {
	return Invalid("input.ownerId", "a resolved conversation cannot have an owner; move it to New first")
}

// ruleSetOwner assigns owner (nil: Unowned) manually.
func ruleSetOwner(c Conversation, owner *Agent, actorID string, now time.Time) (*plan, error) {
	p := newPlan(c, now)
	if owner == nil {
		p.clearOwner(ReasonManual, actorID)
		return p, nil
	}
	if c.OwnerID == owner.ID {
		return p, nil
	}
	if c.Status == StatusResolved {
		return nil, errResolvedNoOwner()
	}
	p.assign(owner, ReasonManual, actorID)
	return p, nil
}

// ruleResolve moves the conversation to RESOLVED, which removes its owner.
func ruleResolve(c Conversation, actorID string, now time.Time) *plan {
	p := newPlan(c, now)
	p.actorID = actorID
	p.setStatus(StatusResolved)
	return p
}

// ruleMoveToPending moves the conversation to PENDING, or changes the
// boomerang of a PENDING one. at, when set, must be in the future.
func ruleMoveToPending(c Conversation, at *time.Time, actorID string, now time.Time) (*plan, error) {
	now = Truncate(now)
	if c.Status == StatusResolved {
		return nil, Invalid("input.conversationId", "a resolved conversation cannot move to Pending; move it to New first")
	}
	if at != nil {
		t := Truncate(*at)
		if !t.After(now) {
			return nil, Invalid("input.boomerangAt", "boomerangAt must be in the future")
		}
		at = &t
	}
	p := newPlan(c, now)
	p.actorID = actorID
	p.setStatus(StatusPending)
	p.next.BoomerangAt = at
	return p, nil
}

// ruleMoveToNew moves a PENDING conversation back to NEW with its owner, or
// reopens a RESOLVED one, unowned.
func ruleMoveToNew(c Conversation, actorID string, now time.Time) *plan {
	p := newPlan(c, now)
	p.actorID = actorID
	p.setStatus(StatusNew)
	return p
}

// ReplyRule is what a reply needs to know beyond the conversation.
type replyRule struct {
	author     *Agent
	autoOwn    bool // auto-ownership is on for the author on this channel
	text       string
	externalID string
	messageID  string
	thenMoveTo QueueStatus // "" to stay
}

// ruleReply adds an outbound message; an author with auto-ownership on this
// channel becomes owner of an unowned conversation; thenMoveTo moves it in
// the same change, whose history shows the net ownership effect.
func ruleReply(c Conversation, r replyRule, now time.Time) (*plan, error) {
	if c.Status == StatusResolved {
		return nil, Invalid("input.conversationId", "cannot reply to a resolved conversation; move it to New first")
	}
	p := newPlan(c, now)
	p.message = &Message{
		ID: r.messageID, Direction: Outbound, Text: r.text, AuthorID: r.author.ID, ExternalID: r.externalID,
	}
	if c.OwnerID == "" && r.autoOwn {
		p.assign(r.author, ReasonAutoOwnership, r.author.ID)
	}
	if c.OwnerID == r.author.ID {
		// The owner answered: no take-back.
		p.next.UnansweredAt = nil
	}
	if r.thenMoveTo != "" {
		p.actorID = r.author.ID
		p.setStatus(r.thenMoveTo)
		if p.next.OwnerID == "" && c.OwnerID == "" {
			// Auto-owned, then resolved in the same step: no net change.
			p.newOwner, p.ownerCheck = nil, nil
		}
	}
	return p, nil
}

// ruleInbound adds an inbound message: a PENDING conversation moves to NEW,
// and if its owner is OFFLINE while remove-ownership-on-logout is on, it is
// released at once (rule 3).
func ruleInbound(c Conversation, m Message, owner *Agent, settings Settings, now time.Time) *plan {
	p := newPlan(c, now)
	p.message = &m
	if c.Status == StatusPending {
		p.setStatus(StatusNew)
		releaseIfOwnerOffline(p, owner, settings, ReasonInboundWhileOffline)
	}
	return p
}

// ruleBoomerang brings a PENDING conversation back to NEW when its boomerang
// time comes, releasing it if its owner is OFFLINE while the setting is on.
func ruleBoomerang(c Conversation, owner *Agent, settings Settings, now time.Time) *plan {
	p := newPlan(c, now)
	if c.Status != StatusPending {
		return p
	}
	p.setStatus(StatusNew)
	releaseIfOwnerOffline(p, owner, settings, ReasonBoomerangWhileOffline)
	return p
}

func releaseIfOwnerOffline(p *plan, owner *Agent, settings Settings, reason Reason) {
	if owner == nil || p.next.OwnerID != owner.ID || !settings.RemoveOwnershipOnLogout {
		return
	}
	// The decision rests on the owner's presence: the write is conditional
	// on the owner record it read, whatever the decision.
	p.ownerCheck = &AgentVersion{AgentID: owner.ID, Version: owner.Version}
	if owner.Presence == Offline {
		p.clearOwner(reason, "")
	}
}

// ruleLogoutCleanup releases a NEW conversation that agentID owns since
// before going offline at epoch (rule 1); anything else is left alone.
func ruleLogoutCleanup(c Conversation, agentID string, epoch int64, now time.Time) *plan {
	p := newPlan(c, now)
	if c.Status == StatusNew && c.OwnerID == agentID && c.OwnerEpoch < epoch {
		p.clearOwner(ReasonLogoutCleanup, "")
	}
	return p
}

// ruleReleaseDeactivated releases a conversation of a deactivated agent.
func ruleReleaseDeactivated(c Conversation, agentID, actorID string, now time.Time) *plan {
	p := newPlan(c, now)
	if c.Status.Open() && c.OwnerID == agentID {
		p.clearOwner(ReasonManual, actorID)
	}
	return p
}

// ruleRoute gives a NEW unowned conversation to agent (ROUTING, by the
// system), conditional on the agent's record as read and on their load
// being below capacity; with unansweredSeconds it is taken back unless the
// owner replies in time.
func ruleRoute(c Conversation, agent *Agent, capacity, unansweredSeconds int, now time.Time) *plan {
	p := newPlan(c, now)
	if c.Status != StatusNew || c.OwnerID != "" {
		return p
	}
	p.assign(agent, ReasonRouting, "")
	p.loadBelow = &LoadCheck{AgentID: agent.ID, Capacity: capacity}
	if unansweredSeconds > 0 {
		at := p.now.Add(time.Duration(unansweredSeconds) * time.Second)
		p.unansweredAt = &at
	}
	return p
}

// ruleUnanswered takes a routed conversation back from its owner when its
// deadline at is due and still the one set (UNANSWERED, by the system): a
// reply of the owner, an owner change or leaving NEW cancelled it.
func ruleUnanswered(c Conversation, at time.Time, now time.Time) *plan {
	p := newPlan(c, now)
	if c.Status == StatusNew && c.OwnerID != "" && c.UnansweredAt != nil && c.UnansweredAt.Equal(at) && !now.Before(at) {
		p.clearOwner(ReasonUnanswered, "")
	}
	return p
}

// OwnershipLabel is how a queue row names its owner.
func OwnershipLabel(status QueueStatus, ownerName string) string {
	switch {
	case ownerName == "":
		return ""
	case status == StatusNew:
		return "Waiting on " + ownerName
	case status == StatusPending:
		return "Owned by " + ownerName
	}
	return ""
}
