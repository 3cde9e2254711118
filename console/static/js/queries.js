// Every GraphQL document the console sends, in one place.

export const ME = `query Me { me { id name email role presence } }`;

// capacity comes with presence; load is the NEW owned counts of
// queueCountsChanged, kept live without a query.
export const AGENTS = `query Agents { agents { id name role presence capacity } }`;

export const PRESENCE_CHANGED = `subscription PresenceChanged($since: String) {
  presenceChanged(since: $since) { id name role presence capacity active position }
}`;

// Any change to any conversation: an open conversation follows it.
export const ANY_CHANGE = `subscription AnyChange($status: QueueStatus!, $since: String) {
  queueChanged(status: $status, since: $since) { kind position conversation { id version status } }
}`;

const ROW = `
  id version status ownershipLabel waitingSince boomerangAt
  owner { id name }
  contact { name externalId }
  channel { id name }
  messages(last: 1) { edges { node { direction text } } }`;

export const QUEUE = `query Queue($status: QueueStatus!, $ownership: OwnershipFilter, $order: QueueOrder, $after: String) {
  queue(status: $status, ownership: $ownership, order: $order, first: 25, after: $after) {
    edges { node { ${ROW} } }
    pageInfo { hasNextPage endCursor }
  }
}`;

export const QUEUE_CHANGED = `subscription QueueView($status: QueueStatus!, $ownership: OwnershipFilter, $order: QueueOrder, $since: String) {
  queueChanged(status: $status, ownership: $ownership, order: $order, since: $since) { kind position conversation { ${ROW} } }
}`;

const COUNTS = `total unowned ownedByMe ownedByOthers byOwner { owner { id } count }`;

// A queue's counts for the tabs and the filter menu: at once, then again
// whenever they change (at most once a second), with no query.
export const COUNTS_CHANGED = `subscription CountsChanged($status: QueueStatus!) {
  queueCountsChanged(status: $status) { ${COUNTS} }
}`;

// A page of ownership history from the newest end: the newest changes are
// the ones an agent asks about; older pages load on request.
const HISTORY_PAGE = `
    edges { node { id at version status reason from { name } to { name } actor { name } } }
    pageInfo { hasPreviousPage startCursor }`;

const CONVERSATION = `
  id version status ownershipLabel waitingSince boomerangAt createdAt
  owner { id name presence }
  contact { name externalId }
  channel { id name }
  messages(last: 50) {
    edges { node { id direction text createdAt author { id name } delivery { status at error } } }
    pageInfo { hasPreviousPage }
  }
  history(last: 20) { ${HISTORY_PAGE} }`;

export const CONVERSATION_QUERY = `query Conversation($id: ID!) { conversation(id: $id) { ${CONVERSATION} } }`;

export const OLDER_HISTORY = `query OlderHistory($id: ID!, $before: String!) {
  conversation(id: $id) { id history(last: 20, before: $before) { ${HISTORY_PAGE} } }
}`;

export const SET_OWNER = `mutation SetOwner($input: SetOwnerInput!) { setOwner(input: $input) { conversation { ${CONVERSATION} } } }`;
export const MOVE_TO_PENDING = `mutation MoveToPending($input: MoveToPendingInput!) { moveToPending(input: $input) { conversation { ${CONVERSATION} } } }`;
export const MOVE_TO_NEW = `mutation MoveToNew($input: MoveInput!) { moveToNew(input: $input) { conversation { ${CONVERSATION} } } }`;
export const RESOLVE = `mutation Resolve($input: MoveInput!) { resolve(input: $input) { conversation { ${CONVERSATION} } } }`;
export const REPLY = `mutation Reply($input: ReplyInput!) { reply(input: $input) { conversation { ${CONVERSATION} } } }`;

export const SET_PRESENCE = `mutation SetPresence($presence: Presence!) { setPresence(presence: $presence) { agent { id presence } } }`;
export const LOGOUT = `mutation Logout { logout { agent { id presence } } }`;

export const MISSED = `query Missed {
  missedAssignments {
    conversation { id status contact { name } channel { name } }
    change { at actor { name } }
  }
}`;
export const ACKNOWLEDGE = `mutation Acknowledge($ids: [ID!]!) { acknowledgeMissedAssignments(conversationIds: $ids) }`;

const SETTINGS = `removeOwnershipOnLogout logoutGraceSeconds
  routing { mode defaultCapacity unansweredSeconds preferLastOwner }`;
export const ADMIN = `query Admin {
  settings { ${SETTINGS} }
  channels { id name autoOwnershipAgents { id } routingAgents { id } deliveries { pending stalled } }
  agents { id name email role presence capacity }
}`;
export const UPDATE_SETTINGS = `mutation UpdateSettings($input: SettingsInput!) {
  updateSettings(input: $input) { settings { ${SETTINGS} } }
}`;
export const SET_ROUTING_AGENT = `mutation SetRoutingAgent($input: RoutingAgentInput!) {
  setRoutingAgent(input: $input) { channel { id name routingAgents { id } } }
}`;
export const SET_AGENT_PRESENCE = `mutation SetAgentPresence($agentId: ID!, $presence: Presence!) {
  setAgentPresence(agentId: $agentId, presence: $presence) { agent { id name role presence capacity active } }
}`;
export const UPSERT_AGENT = `mutation UpsertAgent($input: AgentInput!) {
  upsertAgent(input: $input) { agent { id name role presence capacity active } }
}`;
export const SET_AUTO_OWNERSHIP = `mutation SetAutoOwnership($input: AutoOwnershipInput!) {
  setAutoOwnership(input: $input) { channel { id name autoOwnershipAgents { id } } }
}`;
export const CREATE_CHANNEL = `mutation CreateChannel($input: ChannelInput!) {
  createChannel(input: $input) { channel { id name autoOwnershipAgents { id } } }
}`;

// Who else views this conversation and who types a reply: holding it makes
// me a viewer too.
export const ACTIVITY = `subscription Activity($id: ID!) {
  conversationActivity(conversationId: $id) { conversation { id version } viewers { id name } typing { id name } }
}`;
export const SET_TYPING = `mutation SetTyping($id: ID!, $typing: Boolean!) { setTyping(conversationId: $id, typing: $typing) }`;
