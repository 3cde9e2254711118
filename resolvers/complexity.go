package resolvers

import (
	"switchboard/domain"
	"switchboard/graph"
	"switchboard/graph/model"
)

// setComplexity weights list fields by the page size they ask for, so that
// nesting pages multiplies their cost; every other field costs 1 plus its
// children (gqlgen's default), so aliases and depth count too.
func setComplexity(c *graph.ComplexityRoot) {
	page := func(n *int, def int) int {
		if n == nil || *n < 1 {
			return def
		}
		return *n
	}
	c.Query.Queue = func(child int, _ domain.QueueStatus, _ *model.OwnershipFilter, _ []string, _ *domain.QueueOrder, first *int, _ *string) int {
		return 1 + page(first, domain.DefaultPageSize)*child
	}
	c.Conversation.Messages = func(child int, first *int, _ *string, last *int, _ *string) int {
		n := page(first, domain.DefaultPageSize)
		if last != nil {
			n = page(last, domain.DefaultPageSize)
		}
		return 1 + n*child
	}
	// first has a schema default, so it is set even when last asks for
	// the page: last, when given, is the page size.
	c.Conversation.History = func(child int, first *int, _ *string, last *int, _ *string) int {
		n := page(first, domain.DefaultHistoryPageSize)
		if last != nil {
			n = page(last, domain.DefaultHistoryPageSize)
		}
		return 1 + n*child
	}
	// Unbounded lists: weighted by a typical size.
	const listWeight = 20
	c.Query.Agents = func(child int, _ []domain.Presence, _ *bool) int { return 1 + listWeight*child }
	c.Query.Channels = func(child int) int { return 1 + listWeight*child }
	c.Query.MissedAssignments = func(child int) int { return 1 + listWeight*child }
	c.Channel.AutoOwnershipAgents = func(child int) int { return 1 + listWeight*child }
	c.QueueCounts.ByOwner = func(child int) int { return 1 + listWeight*child }
}
