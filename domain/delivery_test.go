package domain

import (
	"strings"
	"testing"
)

func TestReportValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		cmd  ReportDeliveryCommand
		arg  string // "" for valid
	}{
		{"SENT with the channel's id", ReportDeliveryCommand{MessageID: "m", Status: DeliverySent, ExternalID: "smtp-1"}, ""},
		{"SENT without an id", ReportDeliveryCommand{MessageID: "m", Status: DeliverySent}, ""},
		{"FAILED with a reason", ReportDeliveryCommand{MessageID: "m", Status: DeliveryFailed, Error: "bounced"}, ""},
		{"no message id", ReportDeliveryCommand{Status: DeliverySent}, "input.messageId"},
		{"an oversized message id", ReportDeliveryCommand{MessageID: strings.Repeat("m", MaxIDLength+1), Status: DeliverySent}, "input.messageId"},
		{"PENDING is not a report", ReportDeliveryCommand{MessageID: "m", Status: DeliveryPending}, "input.status"},
		{"an unknown status", ReportDeliveryCommand{MessageID: "m", Status: "LOST"}, "input.status"},
		{"FAILED without a reason", ReportDeliveryCommand{MessageID: "m", Status: DeliveryFailed}, "input.error"},
		{"SENT with an error", ReportDeliveryCommand{MessageID: "m", Status: DeliverySent, Error: "x"}, "input.error"},
		{"a reason too long", ReportDeliveryCommand{MessageID: "m", Status: DeliveryFailed, Error: strings.Repeat("é", MaxDeliveryErrorLength+1)}, "input.error"},
		{"a control character in the external id", ReportDeliveryCommand{MessageID: "m", Status: DeliverySent, ExternalID: "a\x00b"}, "input.externalMessageId"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := validReport(tc.cmd)
			if tc.arg == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			e, ok := err.(*Error)
			if !ok || e.Code != CodeInvalid || e.Argument != tc.arg {
				t.Fatalf("got %#v, want BAD_USER_INPUT %s", err, tc.arg)
			}
		})
	}
}

func TestOutboundOfAnEvent(t *testing.T) {
	reply := &Message{ID: "r", Direction: Outbound, Delivery: &Delivery{Status: DeliveryPending}}
	inbound := &Message{ID: "i", Direction: Inbound}
	conv := Conversation{ID: "c", ChannelID: "ch-1", ContactID: "ct"}
	v := OutboundView{WorkspaceID: "ws", ChannelIDs: []string{"ch-1"}}
	ev := func(m *Message, delivery *Message) Event {
		return Event{WorkspaceID: "ws", Conversation: &ConversationEvent{After: conv, Message: m, Delivery: delivery}}
	}
	if o, ok := OutboundOf(ev(reply, nil), v); !ok || o.Message.ID != "r" || o.ChannelID != "ch-1" || o.ContactID != "ct" || o.ConversationID != "c" {
		t.Fatalf("a reply: %+v %v", o, ok)
	}
	for name, e := range map[string]Event{
		"an inbound message":         ev(inbound, nil),
		"a report":                   ev(nil, reply),
		"a change without a message": ev(nil, nil),
		"an agent's change":          {WorkspaceID: "ws", Agent: &AgentEvent{}},
	} {
		if _, ok := OutboundOf(e, v); ok {
			t.Errorf("%s is offered", name)
		}
	}
	if _, ok := OutboundOf(ev(reply, nil), OutboundView{ChannelIDs: []string{"ch-2"}}); ok {
		t.Error("a reply of another channel is offered")
	}
}
