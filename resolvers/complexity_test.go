package resolvers

import (
	"testing"

	"switchboard/domain"
	"switchboard/graph"
)

// TestHistoryComplexityWeighsLastLikeFirst checks history's cost as gqlgen
// computes it: with first's schema default passed even when the client
// gave only last, a page costs its size, whichever end it is read from.
func TestHistoryComplexityWeighsLastLikeFirst(t *testing.T) {
	var c graph.ComplexityRoot
	setComplexity(&c)
	n := func(v int) *int { return &v }
	def := domain.DefaultHistoryPageSize
	const child = 7
	for _, tc := range []struct {
		name        string
		first, last *int
		want        int
	}{
		{"no arguments: first's default", n(def), nil, 1 + def*child},
		{"first: 100", n(100), nil, 1 + 100*child},
		{"last: 100, first at its default", n(def), n(100), 1 + 100*child},
		{"last: 5, first at its default", n(def), n(5), 1 + 5*child},
		{"last: 100, first: null", nil, n(100), 1 + 100*child},
	} {
		if got := c.Conversation.History(child, tc.first, nil, tc.last, nil); got != tc.want {
			t.Errorf("%s: complexity %d, want %d", tc.name, got, tc.want)
		}
		if tc.last != nil {
			if got, messages := c.Conversation.History(child, tc.first, nil, tc.last, nil), c.Conversation.Messages(child, nil, nil, tc.last, nil); got != messages {
				t.Errorf("%s: history costs %d, messages with the same last %d", tc.name, got, messages)
			}
		}
	}
}
