package model

import "switchboard/domain"

// ConversationConnection is a page of a queue view. Its totalCount is counted
// only when a client asks for it.
type ConversationConnection struct {
	Edges    []ConversationEdge
	PageInfo *PageInfo
	// Query is the view the page came from, for totalCount.
	Query domain.QueueQuery
	// Counted, when set, is the view's count, read beside the page's
	// references because the operation asks for totalCount; CountErr is
	// why it could not be.
	Counted  *int
	CountErr error
}
