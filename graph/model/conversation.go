package model

import "switchboard/domain"

// Conversation is a conversation as the API shows it: the stored record
// with the references the operation selects (owner, channel, contact, the
// ownership label) already loaded. gqlgen reads them as it reads an id. A
// field with a resolver costs a goroutine and its growing stack for every
// row it appears in; on a page of 25 with owner, label, channel and
// contact those were a hundred goroutines, most of what the page cost
// beyond its store calls. A reference the operation does not select is
// left nil and never read.
type Conversation struct {
	domain.Conversation
	Owner          *domain.Agent
	Channel        *domain.Channel
	Contact        *domain.Contact
	OwnershipLabel *string
}
