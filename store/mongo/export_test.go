package mongostore

import (
	"context"

	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"switchboard/domain"
)

// SetTrace makes s report every read and conditional write it sends to fn;
// set it before s is shared.
func SetTrace(s *Store, fn func(Op)) { s.trace = fn }

// CrashAfterCommit makes s's conversation writes stop right after their
// conditional update, as if the process died there: their history entries
// and messages stay in the conversation's pending list.
func CrashAfterCommit(s *Store, on bool) { s.crashAfterCommit = on }

// Seed writes conversations (without messages), history entries and agents
// straight into s's collections in bulk, for benchmarks.
func Seed(ctx context.Context, s *Store, convs []domain.Conversation, history []domain.OwnershipChange, agents []domain.Agent) error {
	const batch = 1000
	for lo := 0; lo < len(convs); lo += batch {
		var docs []any
		for _, c := range convs[lo:min(lo+batch, len(convs))] {
			docs = append(docs, toConversationDoc(c, nil))
		}
		if _, err := s.conversations.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false)); err != nil {
			return err
		}
	}
	for lo := 0; lo < len(history); lo += batch {
		var docs []any
		for _, h := range history[lo:min(lo+batch, len(history))] {
			docs = append(docs, toHistoryDoc(h.WorkspaceID, h.ConversationID, h))
		}
		if _, err := s.history.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false)); err != nil {
			return err
		}
	}
	var docs []any
	for _, a := range agents {
		docs = append(docs, toAgentDoc(a))
	}
	if len(docs) > 0 {
		if _, err := s.agents.InsertMany(ctx, docs); err != nil {
			return err
		}
	}
	return nil
}

// Wrap names and classifies a driver error as the store's methods do.
var Wrap = wrap
