package apitest

import (
	"fmt"
	"time"
)

// Workspace is a workspace with an admin, two agents, an integration and a
// channel, ready for a test.
type Workspace struct {
	env         *Env
	ID          string
	Admin       *Client
	Ben, Cleo   *Client
	Integration *Client
	ChannelID   string
}

// NewWorkspace provisions a workspace: every client makes one request (which
// provisions the agents) and the admin creates the channel "Email".
func (e *Env) NewWorkspace(ws string) *Workspace {
	e.T.Helper()
	w := &Workspace{
		env: e, ID: ws,
		Admin:       e.Admin(ws, "ada", "Ada Admin"),
		Ben:         e.Agent(ws, "ben", "Ben Baker"),
		Cleo:        e.Agent(ws, "cleo", "Cleo Cruz"),
		Integration: e.Integration(ws, "connector"),
	}
	for _, c := range []*Client{w.Admin, w.Ben, w.Cleo} {
		c.MustDo(`{ me { id } }`, nil, nil)
	}
	w.ChannelID = w.CreateChannel("Email")
	return w
}

// CreateChannel creates a channel and returns its id.
func (w *Workspace) CreateChannel(name string) string {
	w.env.T.Helper()
	var out struct {
		CreateChannel struct{ Channel struct{ ID string } }
	}
	w.Admin.MustDo(`mutation($n: String!) { createChannel(input: {name: $n}) { channel { id } } }`, map[string]any{"n": name}, &out)
	return out.CreateChannel.Channel.ID
}

// Inbound is what ingestInbound answered.
type Inbound struct {
	ConversationID string
	MessageID      string
	Status         string
	Duplicate      bool
}

const inboundMutation = `mutation($in: InboundInput!) {
  ingestInbound(input: $in) { conversationId messageId status duplicate }
}`

// Inbound delivers a message from contact on the workspace's channel.
func (w *Workspace) Inbound(contact, messageID, text string) Inbound {
	w.env.T.Helper()
	return w.InboundOn(w.ChannelID, contact, messageID, text)
}

// InboundOn delivers a message from contact on a channel.
func (w *Workspace) InboundOn(channelID, contact, messageID, text string) Inbound {
	w.env.T.Helper()
	var out struct{ IngestInbound Inbound }
	w.Integration.MustDo(inboundMutation, map[string]any{"in": map[string]any{
		"channelId": channelID, "contactExternalId": contact, "externalMessageId": messageID, "text": text,
	}}, &out)
	return out.IngestInbound
}

// NewConversation starts a conversation with a new contact and returns its
// id.
func (w *Workspace) NewConversation(contact string) string {
	w.env.T.Helper()
	return w.Inbound(contact, contact+"-first", "Hello from "+contact).ConversationID
}

// Conversation is the part of a conversation most tests look at.
type Conversation struct {
	ID             string
	Status         string
	Version        int
	OwnershipLabel *string
	Owner          *struct{ ID string }
	OwnedSince     *string
	WaitingSince   string
	BoomerangAt    *string
	CreatedAt      string
	UpdatedAt      string
}

// ConversationFields selects Conversation.
const ConversationFields = `id status version ownershipLabel owner { id } ownedSince waitingSince boomerangAt createdAt updatedAt`

// Get reads a conversation as c.
func (w *Workspace) Get(c *Client, id string) *Conversation {
	w.env.T.Helper()
	var out struct{ Conversation *Conversation }
	c.MustDo(`query($id: ID!) { conversation(id: $id) { `+ConversationFields+` } }`, map[string]any{"id": id}, &out)
	return out.Conversation
}

// SetOwner assigns conversation id to ownerID ("" for Unowned) as c.
func (w *Workspace) SetOwner(c *Client, id, ownerID string) *Conversation {
	w.env.T.Helper()
	var owner any
	if ownerID != "" {
		owner = ownerID
	}
	var out struct {
		SetOwner struct{ Conversation *Conversation }
	}
	c.MustDo(`mutation($in: SetOwnerInput!) { setOwner(input: $in) { conversation { `+ConversationFields+` } } }`,
		map[string]any{"in": map[string]any{"conversationId": id, "ownerId": owner}}, &out)
	return out.SetOwner.Conversation
}

// OwnerID returns the owner's id, "" when unowned.
func (c *Conversation) OwnerID() string {
	if c == nil || c.Owner == nil {
		return ""
	}
	return c.Owner.ID
}

// Stamp is how the API writes t: RFC 3339, UTC, milliseconds.
func Stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

// Now is the fake clock's time as the API writes it.
func (e *Env) Now() string { return Stamp(e.Clock.Now()) }

// Ref is a reference to an agent or a conversation.
type Ref struct{ ID string }

func refID(r *Ref) string {
	if r == nil {
		return ""
	}
	return r.ID
}

// Change is an ownership change (a history entry) as the API shows it.
type Change struct {
	ID           string
	At           string
	Version      int
	Status       string
	Reason       string
	From, To     *Ref
	Actor        *Ref
	Conversation *struct {
		ID      string
		Version int
		Status  string
	}
}

// ChangeFields selects Change.
const ChangeFields = `id at version status reason from { id } to { id } actor { id } conversation { id version status }`

// Entry is a Change reduced to what tests compare; "" is no agent.
type Entry struct {
	Version         int
	Status          string
	From, To, Actor string
	Reason          string
	At              string
}

// Entry reduces c.
func (c *Change) Entry() Entry {
	return Entry{Version: c.Version, Status: c.Status, From: refID(c.From), To: refID(c.To), Actor: refID(c.Actor), Reason: c.Reason, At: c.At}
}

func (e Entry) String() string {
	return fmt.Sprintf("{v%d %s %q->%q by %q %s at %s}", e.Version, e.Status, e.From, e.To, e.Actor, e.Reason, e.At)
}

// Payload is what setOwner, resolve, moveToPending and moveToNew answer.
type Payload struct {
	Conversation    *Conversation
	OwnershipChange *Change
}

var mutationInputs = map[string]string{
	"setOwner": "SetOwnerInput", "resolve": "MoveInput", "moveToPending": "MoveToPendingInput", "moveToNew": "MoveInput",
}

// MutationDoc is the document of a conversation mutation (setOwner, resolve,
// moveToPending or moveToNew) with its input in $in.
func MutationDoc(op string) string {
	in, ok := mutationInputs[op]
	if !ok {
		panic("apitest: no conversation mutation " + op)
	}
	return `mutation($in: ` + in + `!) { ` + op + `(input: $in) { conversation { ` + ConversationFields + ` } ownershipChange { ` + ChangeFields + ` } } }`
}

// Mutate runs a conversation mutation that must succeed and returns its
// payload.
func (w *Workspace) Mutate(c *Client, op string, in map[string]any) Payload {
	w.env.T.Helper()
	var out map[string]Payload
	c.MustDo(MutationDoc(op), map[string]any{"in": in}, &out)
	return out[op]
}

// Move runs resolve, moveToPending or moveToNew on conversation id as c.
func (w *Workspace) Move(c *Client, op, id string) Payload {
	w.env.T.Helper()
	return w.Mutate(c, op, map[string]any{"conversationId": id})
}

// Try runs a conversation mutation that may fail.
func (w *Workspace) Try(c *Client, op string, in map[string]any) *Response {
	w.env.T.Helper()
	return c.Do(MutationDoc(op), map[string]any{"in": in})
}

// Assign is SetOwner returning the whole payload; ownerID "" is Unowned.
func (w *Workspace) Assign(c *Client, id, ownerID string) Payload {
	w.env.T.Helper()
	var owner any
	if ownerID != "" {
		owner = ownerID
	}
	return w.Mutate(c, "setOwner", map[string]any{"conversationId": id, "ownerId": owner})
}

// History returns a conversation's ownership history, oldest first, as c
// reads it.
func (w *Workspace) History(c *Client, id string) []Entry {
	w.env.T.Helper()
	var out struct {
		Conversation *struct {
			History struct{ Edges []struct{ Node Change } }
		}
	}
	c.MustDo(`query($id: ID!) { conversation(id: $id) { history(first: 100) { edges { node { `+ChangeFields+` } } } } }`,
		map[string]any{"id": id}, &out)
	if out.Conversation == nil {
		w.env.T.Fatalf("conversation %s not found", id)
	}
	entries := []Entry{}
	for _, e := range out.Conversation.History.Edges {
		entries = append(entries, e.Node.Entry())
	}
	return entries
}

// Message is a message as the API shows it.
type Message struct {
	ID        string
	Direction string
	Text      string
	Author    *Ref
	CreatedAt string
}

// MessageFields selects Message.
const MessageFields = `id direction text author { id } createdAt`

// Messages returns a conversation's messages, oldest first (at most 100).
func (w *Workspace) Messages(c *Client, id string) []Message {
	w.env.T.Helper()
	var out struct {
		Conversation *struct {
			Messages struct{ Edges []struct{ Node Message } }
		}
	}
	c.MustDo(`query($id: ID!) { conversation(id: $id) { messages(first: 100) { edges { node { `+MessageFields+` } } } } }`,
		map[string]any{"id": id}, &out)
	if out.Conversation == nil {
		w.env.T.Fatalf("conversation %s not found", id)
	}
	msgs := []Message{}
	for _, e := range out.Conversation.Messages.Edges {
		msgs = append(msgs, e.Node)
	}
	return msgs
}

// ReplyPayload is what reply answers.
type ReplyPayload struct {
	Conversation    *Conversation
	Message         *Message
	OwnershipChange *Change
}

// ReplyDoc is the reply mutation with its input in $in.
const ReplyDoc = `mutation($in: ReplyInput!) { reply(input: $in) { conversation { ` + ConversationFields +
	` } message { ` + MessageFields + ` } ownershipChange { ` + ChangeFields + ` } } }`

// Reply replies as c; in holds the ReplyInput fields.
func (w *Workspace) Reply(c *Client, in map[string]any) ReplyPayload {
	w.env.T.Helper()
	var out struct{ Reply ReplyPayload }
	c.MustDo(ReplyDoc, map[string]any{"in": in}, &out)
	return out.Reply
}

// Say replies text to conversation id as c.
func (w *Workspace) Say(c *Client, id, text string) ReplyPayload {
	w.env.T.Helper()
	return w.Reply(c, map[string]any{"conversationId": id, "text": text})
}

// SetPresence sets c's presence.
func (w *Workspace) SetPresence(c *Client, p string) {
	w.env.T.Helper()
	c.MustDo(`mutation($p: Presence!) { setPresence(presence: $p) { agent { presence } } }`, map[string]any{"p": p}, nil)
}

// UpsertAgent runs upsertAgent as the admin with the AgentInput fields in.
func (w *Workspace) UpsertAgent(in map[string]any) {
	w.env.T.Helper()
	w.Admin.MustDo(`mutation($in: AgentInput!) { upsertAgent(input: $in) { agent { id } } }`, map[string]any{"in": in}, nil)
}

// Deactivate deactivates agent id (role AGENT) as the admin.
func (w *Workspace) Deactivate(id, name string) {
	w.env.T.Helper()
	w.UpsertAgent(map[string]any{"id": id, "name": name, "role": "AGENT", "active": false})
}

// SetAutoOwnership turns auto-ownership on or off as the admin.
func (w *Workspace) SetAutoOwnership(channelID, agentID string, on bool) {
	w.env.T.Helper()
	w.Admin.MustDo(`mutation($in: AutoOwnershipInput!) { setAutoOwnership(input: $in) { channel { id } } }`,
		map[string]any{"in": map[string]any{"channelId": channelID, "agentId": agentID, "enabled": on}}, nil)
}

// QueuePage is one page of a queue view.
type QueuePage struct {
	TotalCount int
	PageInfo   struct {
		HasNextPage, HasPreviousPage bool
		StartCursor, EndCursor       *string
	}
	Edges []struct {
		Cursor string
		Node   Conversation
	}
}

// IDs returns the page's conversation ids in order.
func (p QueuePage) IDs() []string {
	ids := []string{}
	for _, e := range p.Edges {
		ids = append(ids, e.Node.ID)
	}
	return ids
}

// QueueDoc asks for a queue page with every argument as a variable.
const QueueDoc = `query($status: QueueStatus!, $ownership: OwnershipFilter, $channelIds: [ID!], $order: QueueOrder, $first: Int, $after: String) {
  queue(status: $status, ownership: $ownership, channelIds: $channelIds, order: $order, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { ` + ConversationFields + ` } }
  }
}`

// Queue reads a queue page as c; args are QueueDoc's variables.
func (w *Workspace) Queue(c *Client, args map[string]any) QueuePage {
	w.env.T.Helper()
	var out struct{ Queue QueuePage }
	c.MustDo(QueueDoc, args, &out)
	return out.Queue
}
