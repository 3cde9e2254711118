package domain

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The record of changes keeps events as JSON: a stored event holds the
// fields that are set and nothing for the others, and reads back as the
// event it was, whether it was written with every field or only the set
// ones.
func TestEventJSONHoldsWhatIsSetAndReadsBackTheSame(t *testing.T) {
	at := time.Date(2026, 12, 5, 9, 30, 0, 123456789, time.UTC)
	before := Conversation{WorkspaceID: "ws", ID: "cv-1", ChannelID: "ch-1", ContactID: "ct-1", Seq: 1, Status: StatusNew,
		OwnerID: "ben", WaitingSince: at, CreatedAt: at, UpdatedAt: at, Version: 3}
	after := before
	after.OwnerID, after.Version = "", 4
	capacity := 0
	full := Conversation{WorkspaceID: "ws", ID: "cv-2", ChannelID: "ch-1", ContactID: "ct-2", Seq: 2, Status: StatusPending,
		OwnerID: "ann", OwnedSince: &at, OwnerEpoch: 7, AssignedWhileOffline: true, OwnerVersion: 9, WaitingSince: at,
		BoomerangAt: &at, RoutingExcluded: []string{}, UnansweredAt: &at, ResolvedOwnerID: "cleo", PreferredAgentID: "dan",
		CreatedAt: at, UpdatedAt: at, Version: 9}
	position := "p-1"
	events := []Event{
		// A logout cleanup's release: what most of the record is.
		{WorkspaceID: "ws", Conversation: &ConversationEvent{Before: &before, After: after,
			Change: &OwnershipChange{ID: "h-4", Version: 4, At: at, FromID: "ben", Reason: ReasonLogoutCleanup}}},
		// Every field set, zeros behind pointers included.
		{WorkspaceID: "ws", Position: 12, CommittedAt: at, Conversation: &ConversationEvent{Before: &full, After: full,
			Change: &OwnershipChange{WorkspaceID: "ws", ID: "h-9", ConversationID: "cv-2", Version: 9, Status: StatusPending, At: at,
				FromID: "ben", ToID: "ann", ActorID: "ann", Reason: ReasonManual, Conversation: &full, Position: &position},
			Message: &Message{WorkspaceID: "ws", ID: "m-1", ConversationID: "cv-2", Direction: Outbound, Text: "hi", AuthorID: "ann",
				ExternalID: "x", Version: 9, CreatedAt: at, ChannelID: "ch-1", Delivery: &Delivery{Status: DeliveryPending, At: at}},
			Interim: true}},
		// Activity is never stored, but a MongoDB feed records leases.
		{WorkspaceID: "ws", Activity: &ActivityEvent{ConversationID: "cv-1", Seq: 3, Viewers: []string{"ann"}}},
		{WorkspaceID: "ws", Position: 1 << 62, Lease: &ActivityLeaseEvent{Lease: ActivityLease{WorkspaceID: "ws", ConversationID: "cv-1",
			AgentID: "ann", Holder: "h", Instance: "i", Until: at}, Dropped: true}},
		{WorkspaceID: "ws", Agent: &AgentEvent{After: Agent{WorkspaceID: "ws", ID: "ann", Name: "Ann", Role: RoleAgent, Active: true,
			Presence: Online, PresenceSince: at, Capacity: &capacity, Cleanup: &LogoutCleanup{DueAt: at}, Version: 2}}},
	}
	for i, ev := range events {
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		// The release sets no field to a zero (the others set some, as a
		// capacity of 0 behind its pointer, which stays).
		for _, unset := range []string{`null`, `:0,`, `:0}`, `:false`, `:""`, `"0001-01-01T00:00:00Z"`} {
			if i == 0 && strings.Contains(string(b), unset) {
				t.Errorf("event %d holds a field that is not set (%s): %s", i, unset, b)
			}
		}
		var back Event
		if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, ev) {
			t.Errorf("event %d reads back as\n%+v\nnot\n%+v (%v)", i, back, ev, err)
		}
		// A record written with every field, as before, reads the same.
		var old Event
		if err := json.Unmarshal(everyField(t, b), &old); err != nil || !reflect.DeepEqual(old, ev) {
			t.Errorf("event %d written with every field reads back as\n%+v\nnot\n%+v (%v)", i, old, ev, err)
		}
	}
	// The release, as the cleanup writes ten thousand of.
	if b, _ := json.Marshal(events[0]); len(b) > 800 {
		t.Errorf("a release's event is %d bytes: %s", len(b), b)
	}
}

// everyField is b, an event's JSON, with its absent fields written out
// as their zero values: the event as it was stored before its fields were
// omitzero.
func everyField(t *testing.T, b []byte) []byte {
	t.Helper()
	var tree map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // positions pass 2^53
	if err := dec.Decode(&tree); err != nil {
		t.Fatal(err)
	}
	fill(tree, reflect.TypeFor[Event]())
	out, err := json.Marshal(tree)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// fill adds to obj, the JSON object of a value of struct type typ, each
// field it lacks as encoding/json wrote a zero field before omitzero:
// null for a pointer, slice or map, and a struct with every field.
func fill(obj map[string]any, typ reflect.Type) {
	for f := range typ.Fields() {
		ft := f.Type
		v, ok := obj[f.Name]
		if !ok {
			switch {
			case ft.Kind() == reflect.Struct && ft != reflect.TypeFor[time.Time]():
				sub := map[string]any{}
				fill(sub, ft)
				obj[f.Name] = sub
			default:
				zero, _ := json.Marshal(reflect.Zero(ft).Interface())
				obj[f.Name] = json.RawMessage(zero)
			}
			continue
		}
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if sub, isObj := v.(map[string]any); isObj && ft.Kind() == reflect.Struct && ft != reflect.TypeFor[time.Time]() {
			fill(sub, ft)
		}
	}
}
