package apitest

import "testing"

// Run runs the whole GraphQL API suite on the stores f makes, in the order
// listed here.
func Run(t *testing.T, f Factory) {
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, f Factory)
	}{
		// Automation: logout cleanups, the presence timeout, boomerangs.
		{"logout cleanup: at offline + grace, NEW conversations owned since before go unowned; PENDING keep their owner", testCleanupRule1And2},
		{"logout cleanup: conversations assigned after going offline are kept (rule 4)", testCleanupKeepsLaterAssignments},
		{"logout cleanup uses the grace as it was when the agent went offline", testCleanupGraceAsItWas},
		{"logout cleanup: coming back before it is due cancels it", testCleanupCancelledByReturn},
		{"logout cleanup: switching the setting off before it is due cancels it, also if switched on again", testCleanupCancelledBySetting},
		{"with the setting off, going offline changes no ownership and rule 3 does not apply", testSettingOffChangesNothing},
		{"rule 3: an inbound message that moves an offline owner's PENDING conversation to NEW releases it at once", testInboundWhileOffline},
		{"the presence timeout makes an agent OFFLINE as of last sign of life + timeout, which arms the cleanup", testPresenceTimeoutArmsCleanup},
		{"a boomerang brings a PENDING conversation back to NEW at its time, owner kept", testBoomerangFires},
		{"a boomerang is cancelled by a move or a new boomerang, not by an owner change", testBoomerangCancellation},
		{"a boomerang while the owner is offline releases it (BOOMERANG_WHILE_OFFLINE)", testBoomerangWhileOffline},
		{"two cleanups of one agent at once release each conversation once", testConcurrentCleanups},

		// Concurrency.
		{"fifty agents take one conversation with onlyIfUnowned: one wins", testRaceOnlyIfUnowned},
		{"fifty agents take one conversation with the version they read: one wins", testRaceExpectedVersion},
		{"twenty first messages of a new contact at once make one conversation", testConcurrentFirstMessages},

		// A failing store.
		{"a store failure is INTERNAL with no detail, also when authenticating (HTTP 500)", testInternalNoDetail},
		{"a panic in the store is INTERNAL with no stack", testPanicNoDetail},
		{"an owner the store cannot read is null with INTERNAL at each of its places and the label's, named by the client's aliases; the rest of the conversation comes", testOwnerUnreadable},

		// Presence, agents, settings and channels.
		{"agents start OFFLINE; setPresence changes presence and presenceSince only on a change", testSetPresence},
		{"logout makes the agent OFFLINE at once", testLogout},
		{"requests alone never sign an OFFLINE agent in", testRequestsDoNotSignIn},
		{"me is the caller's agent as its token describes it", testMe},
		{"a token's name, email and role update the stored agent on the next request", testTokenUpdatesAgent},
		{"the token's role decides what the caller may do, not the stored role", testTokenRoleDecides},
		{"agents lists active agents by name, filtered by presence, never integrations", testAgentsList},
		{"upsertAgent creates an agent ahead of their first login, who can be assigned", testUpsertAgentAhead},
		{"upsertAgent refuses bad input: role INTEGRATION, empty name or id, self-deactivation", testUpsertAgentValidation},
		{"settings start at their defaults in every workspace", testSettingsDefaults},
		{"updateSettings changes only the fields it is given", testUpdateSettings},
		{"logoutGraceSeconds outside 0..60 is BAD_USER_INPUT input.logoutGraceSeconds", testLogoutGraceRange},
		{"channel names are unique per workspace and channels list by name", testChannels},
		{"setAutoOwnership: NOT_FOUND for an unknown channel, BAD_USER_INPUT for an unknown agent, idempotent on and off", testSetAutoOwnershipAdmin},

		// Routing.
		{"routing: settings, routing agents, capacity and load over the API; routed with ROUTING by the system, never while AWAY", testRoutingOverTheAPI},
		{"routing: every agent's load and capacity cost one count and one settings read per request", testRoutingLoadIsOneCountPerRequest},
		{"routing: bad input is BAD_USER_INPUT with its argument; another workspace's channel or agent is NOT_FOUND", testRoutingBadInput},
		{"routing: fifty first messages at once to five agents of capacity three route exactly fifteen, each once", testRoutingRace},

		// Queue views, paging and counts.
		{"every ownership filter option and union lists exactly its conversations, with their totalCount", testOwnershipFilters},
		{"ownership filters are relative to the caller", testFiltersPerCaller},
		{"queue(channelIds) lists only those channels; an unknown channel is BAD_USER_INPUT channelIds", testQueueChannels},
		{"ownerIds naming an unknown agent is BAD_USER_INPUT ownership.ownerIds", testQueueUnknownOwner},
		{"LONGEST_WAITING lists by waitingSince then id, NEWEST exactly the reverse", testQueueOrders},
		{"paging with equal waitingSince values never repeats or skips a row, in both orders and through filters", testQueuePaging},
		{"paging neither repeats nor skips rows that stay put while others move", testQueuePagingWhileMoving},
		{"queueCounts counts each option and each owner, byOwner by count, with presence", testQueueCounts},
		{"a cursor used with other arguments, by another caller of a caller-relative view, or malformed is BAD_USER_INPUT after", testCursorMisuse},
		{"a cursor works with another page size and for another caller when the view is not caller-relative", testCursorReuse},
		{"a queue page has 25 rows unless first says otherwise", testQueueDefaultPage},
		{"page sizes over 100 or below 0 are BAD_USER_INPUT", testPageSizeLimit},

		// Roles.
		{"integrations only ingest: every other query and mutation is FORBIDDEN", testIntegrationOnlyIngests},
		{"admin-only mutations are FORBIDDEN for agents and integrations and change nothing", testAdminOnly},
		{"an integration is FORBIDDEN before its arguments are looked at", testIntegrationForbiddenFirst},

		// Inbound messages.
		{"an inbound message from a new contact starts an unowned NEW conversation with its contact and channel", testInboundNewContact},
		{"an inbound message on a NEW conversation keeps it NEW and its waitingSince", testInboundOnNew},
		{"an inbound message on a PENDING conversation moves it to NEW and resets waitingSince", testInboundOnPending},
		{"an inbound message after RESOLVED starts a new conversation", testInboundAfterResolved},
		{"the same externalMessageId twice is one message: duplicate, same conversation and message", testInboundDuplicate},
		{"a contact's external id and a message's external id are scoped to their channel", testInboundPerChannel},
		{"a contact's name is set by the first message that gives one and changed by later ones", testContactName},
		{"ingestInbound to an unknown channel is BAD_USER_INPUT input.channelId", testInboundUnknownChannel},
		{"ingestInbound with empty or oversized ids or text is BAD_USER_INPUT with its argument", testInboundValidation},
		{"admins may ingest; agents may not (FORBIDDEN)", testInboundRoles},

		// Ownership, auto-ownership, missed assignments and deactivation.
		{"setOwner assigns an agent with a MANUAL history entry naming actor, from, to, status and version", testSetOwnerAssigns},
		{"setOwner reassigns and unassigns, each with its history entry", testSetOwnerReassignUnassign},
		{"setOwner without ownerId is BAD_USER_INPUT input.ownerId", testSetOwnerMissingOwner},
		{"setOwner to an unknown, inactive, integration or other-workspace agent is BAD_USER_INPUT input.ownerId", testSetOwnerBadOwner},
		{"giving a RESOLVED conversation an owner is BAD_USER_INPUT", testSetOwnerResolved},
		{"setting the owner it has is a no-op, also with a stale expectedVersion", testSetOwnerNoOp},
		{"setOwner with a stale expectedVersion is CONFLICT with currentVersion", testSetOwnerConflict},
		{"onlyIfUnowned takes an unowned conversation and is CONFLICT on an owned one", testOnlyIfUnowned},
		{"the ownership label is Waiting on NAME in NEW, Owned by NAME in PENDING, null otherwise", testOwnershipLabel},
		{"history lists every ownership change oldest first, in pages", testHistoryPaging},
		{"history pages from the newest with last/before, with the cursors of first/after, past the default page of 50", testHistoryFromTheNewest},
		{"auto-ownership makes a replying agent owner of an unowned conversation of its channel", testAutoOwnership},
		{"auto-ownership never takes an owned conversation", testAutoOwnershipOwned},
		{"auto-ownership applies only to its agent and channel, and stops when switched off", testAutoOwnershipScope},
		{"a reply with thenMoveTo under auto-ownership is one change with the net ownership effect", testAutoOwnershipThenMove},
		{"an assignment made while the owner is OFFLINE is a missed assignment until acknowledged", testMissedAssignments},
		{"assignments made while ONLINE or by the owner themself are not missed", testNotMissed},
		{"missed assignments list only conversations still owned, one per conversation", testMissedStillOwned},
		{"acknowledgeMissedAssignments counts only assignments newly acknowledged", testAcknowledgeCounts},
		{"a deactivated agent's requests are FORBIDDEN with HTTP 403", testDeactivatedForbidden},
		{"deactivating an agent makes them OFFLINE and releases their NEW and PENDING conversations", testDeactivationReleases},
		{"a deactivated agent cannot be made owner nor get auto-ownership", testDeactivatedNotOwner},
		{"a reactivated agent works again", testReactivated},

		// Queue moves and versions.
		{"a first inbound message starts an unowned NEW conversation at version 1", testNewConversationState},
		{"moveToPending moves NEW to PENDING, restarts waitingSince and bumps the version without history", testMoveToPending},
		{"moveToPending stores a future boomerangAt in UTC milliseconds", testMoveToPendingBoomerang},
		{"boomerangAt not in the future is BAD_USER_INPUT input.boomerangAt and changes nothing", testBoomerangNotInFuture},
		{"a malformed boomerangAt is BAD_USER_INPUT input.boomerangAt and changes nothing", testBoomerangMalformed},
		{"a new boomerang time on a PENDING conversation is a change that keeps waitingSince", testNewBoomerangIsChange},
		{"moveToNew brings PENDING back to NEW with its owner and drops the boomerang", testMoveToNewFromPending},
		{"moveToNew on RESOLVED reopens it unowned", testReopenResolved},
		{"moveToPending on a RESOLVED conversation is BAD_USER_INPUT", testPendingFromResolved},
		{"resolve moves to RESOLVED and clears the owner with reason RESOLVED", testResolveClearsOwner},
		{"resolve of an unowned conversation records no history", testResolveUnowned},
		{"moving to the queue it is in is a no-op: same version, no history, also with a stale expectedVersion", testMoveNoOps},
		{"a move with a stale expectedVersion is CONFLICT with currentVersion and changes nothing", testMoveConflict},
		{"a move with the current expectedVersion succeeds", testMoveExpectedVersionOK},
		{"expectedVersion below 1 is BAD_USER_INPUT input.expectedVersion on every mutation that takes it, also for a no-op or an unknown id", testExpectedVersionBelowOne},
		{"mutations on an unknown conversation are NOT_FOUND", testUnknownConversation},
		{"each change bumps the version by exactly one", testVersionsGrowByOne},
		{"conversation of an unknown id is null", testConversationUnknownNull},

		// Replies and messages.
		{"a reply adds an outbound message by its author, keeps the queue and waitingSince, and bumps the version", testReplyKeepsQueue},
		{"a reply with thenMoveTo PENDING or RESOLVED moves in the same version", testReplyThenMove},
		{"thenMoveTo NEW is BAD_USER_INPUT input.thenMoveTo and stores nothing", testReplyThenMoveNew},
		{"a reply to a RESOLVED conversation is BAD_USER_INPUT and stores nothing", testReplyResolved},
		{"a reply with empty or oversized text is BAD_USER_INPUT input.text", testReplyText},
		{"a repeated clientMessageId returns the same message and changes nothing", testReplyIdempotent},
		{"the same clientMessageId with another text or conversation is BAD_USER_INPUT input.clientMessageId", testReplyKeyMisuse},
		{"a clientMessageId is scoped to the replying agent", testReplyKeyPerAgent},
		{"a reply with a stale expectedVersion is CONFLICT with currentVersion (a report or a move too); with the current one it succeeds", testReplyExpectedVersion},
		{"integrations cannot reply (FORBIDDEN)", testReplyIntegration},
		{"messages page oldest first with first/after and from the newest with last/before", testMessagesPaging},

		// Store calls.
		{"a queue page costs the same few store calls for 25 rows as for 100", testQueuePageStoreCalls},
		{"queueCounts costs the same few store calls however many conversations the queue holds", testQueueCountsStoreCalls},
		{"a logout cleanup releases many conversations in a few batch writes, each with its history entry and event", testCleanupStoreCalls},
		{"a deactivation releases many conversations in a few batch writes, each with its history entry and event", testDeactivationStoreCalls},

		// Subscriptions.
		{"queueChanged: a conversation enters, changes in and leaves a filtered view, with the state of each change", testQueueChangedLifecycle},
		{"ownershipChanged matches on the state before or after the change, queue and owner together", testOwnershipChangedFilter},
		{"presenceChanged: opening a socket signs an offline agent in, and everyone in the workspace hears it", testPresenceChangedOnSignIn},
		{"presenceChanged: an agent's capacity changed by an admin is heard too, with the new capacity", testPresenceChangedOnCapacity},
		{"a subscriber of another workspace receives nothing", testSubscriptionTenancy},
		{"events of one conversation arrive in order under concurrent writes", testSubscriptionOrder},
		{"a subscription with arguments the view refuses gets an error message", testSubscriptionRefused},
		{"a deactivated agent's socket is closed with 4403", testDeactivationClosesSocket},
		{"ownershipChanged resumed after a drop replays exactly the missed changes of its filter, in order, then live ones", testResumeOwnershipChanged},
		{"queueChanged resumed after a drop replays exactly the missed changes of its view, in order, then live ones", testResumeQueueChanged},
		{"presenceChanged resumed after a drop replays exactly the missed changes, in order, then live ones", testResumePresenceChanged},
		{"a subscriber resuming while changes keep coming misses none and gets none twice", testResumeSeam},
		{"a position older than the changes kept gets RESET", testResumeTooOld},
		{"a position of another workspace, or none of this API, is BAD_USER_INPUT since", testResumeForeignPosition},
		{"queueCountsChanged: counts at once, then once a second after changes, coalesced, none for unseen changes", testCountsChangedLive},
		{"queueCountsChanged: two agents on one shape each get their own ownedByMe", testCountsChangedPerCaller},
		{"queueCountsChanged refuses what queueCounts refuses, in its words, and keeps to its workspace", testCountsChangedRefused},
		{"queueCountsChanged survives a store that cannot count, and sends the change once it can", testCountsChangedOutage},
		{"queueCountsChanged: a hundred subscribers of one queue cost at most one count query a second", testCountsChangedStoreCalls},

		// Outbound delivery.
		{"outbound: a connector receives a reply, reports SENT, and the agents' subscription shows it", testOutboundReplySentLive},
		{"outbound: a connector that was away gets every PENDING reply in order, then new ones live", testOutboundBacklogInOrder},
		{"outbound: channelIds and the workspace bound what a connector receives; agents may not subscribe; counts per channel", testOutboundChannelsAndTenancy},
		{"reportDelivery: bad input has its code, FAILED shows its reason, the same report twice is one, SENT is final", testReportDeliveryRules},
		{"outbound: a reply PENDING past the redelivery delay is offered again", testOutboundOfferedAgain},
		{"outbound: a backlog of more than one page comes whole, once each, in order per conversation", testOutboundBacklogPages},

		// Who else is on a conversation.
		{"conversationActivity: agents on one conversation see each other as viewers, once per agent, until their sockets go", testActivityViewers},
		{"conversationActivity: the snapshot's conversation carries its owner, label, channel and contact, first and live", testActivityReferences},
		{"setTyping: typing starts, stops on false and on the typist's reply, and expires 6 s after the last true", testActivityTyping},
		{"setTyping: calls over an agent's rate are no-ops, except stopping a typing in progress", testActivityTypingRate},
		{"conversationActivity and setTyping: integrations are FORBIDDEN, another workspace's conversation is NOT_FOUND and its activity unseen", testActivityRefused},
		{"a reply raced over the socket is CONFLICT with currentVersion, and the activity's version said so first", testActivityRacedReply},

		// Tenancy.
		{"tenancy: queries in workspace B never see workspace A's records", testTenancyQueries},
		{"tenancy: mutations in workspace B on A's conversations are NOT_FOUND and change nothing in A", testTenancyMutations},
		{"tenancy: references to A's agents and channels from B are BAD_USER_INPUT", testTenancyReferences},
		{"tenancy: the same ids, keys and names in B are B's own", testTenancySameKeys},
		{"tenancy: A's cursors are refused in B", testTenancyCursors},
		{"tenancy: another workspace's record looks exactly like an unknown one", testTenancyLooksUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, f) })
	}
}
