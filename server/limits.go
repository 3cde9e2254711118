package server

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"switchboard/domain"
)

// Limits bound what one request may ask of the server.
type Limits struct {
	// MaxBodyBytes bounds a POST body (413 beyond).
	MaxBodyBytes int64
	// MaxTokens bounds the lexical tokens of a document, before parsing
	// builds anything.
	MaxTokens int
	// MaxComplexity bounds the operation's cost: every field 1 plus its
	// children, pages weighted by their size (resolvers.setComplexity).
	MaxComplexity int
	// MaxDepth bounds how deeply selections nest.
	MaxDepth int
}

// DefaultLimits are generous for any real client and small for an attacker.
func DefaultLimits() Limits {
	return Limits{MaxBodyBytes: 1 << 20, MaxTokens: 15_000, MaxComplexity: 10_000, MaxDepth: 12}
}

const codeComplexity = "COMPLEXITY_LIMIT_EXCEEDED"

// depthLimit refuses operations that nest deeper than max.
type depthLimit struct{ max int }

func (depthLimit) ExtensionName() string                   { return "DepthLimit" }
func (depthLimit) Validate(graphql.ExecutableSchema) error { return nil }
func (d depthLimit) MutateOperationContext(_ context.Context, op *graphql.OperationContext) *gqlerror.Error {
	if depth(op.Doc, op.Operation.SelectionSet, 0, d.max) > d.max {
		err := gqlerror.Errorf("operation nests deeper than the limit of %d", d.max)
		err.Extensions = map[string]any{"code": codeComplexity}
		return err
	}
	return nil
}

// depth returns how deeply set nests (at most limit+1: it stops counting
// there, which also ends any walk through fragments).
func depth(doc *ast.QueryDocument, set ast.SelectionSet, level, limit int) int {
	if level > limit {
		return level
	}
	deepest := level
	for _, sel := range set {
		var d int
		switch s := sel.(type) {
		case *ast.Field:
			if len(s.SelectionSet) == 0 {
				d = level + 1
			} else {
				d = depth(doc, s.SelectionSet, level+1, limit)
			}
		case *ast.InlineFragment:
			d = depth(doc, s.SelectionSet, level, limit)
		case *ast.FragmentSpread:
			if f := doc.Fragments.ForName(s.Name); f != nil {
				d = depth(doc, f.SelectionSet, level, limit)
			}
		}
		deepest = max(deepest, d)
	}
	return deepest
}

// Introspection says who may introspect the schema (and get field
// suggestions in validation errors).
type Introspection string

const (
	IntrospectionAdmins Introspection = "admins"
	IntrospectionAll    Introspection = "all"
	IntrospectionOff    Introspection = "off"
)

// ParseIntrospection reads the SWITCHBOARD_INTROSPECTION setting.
func ParseIntrospection(s string) (Introspection, bool) {
	switch v := Introspection(s); v {
	case IntrospectionAdmins, IntrospectionAll, IntrospectionOff:
		return v, true
	case "":
		return IntrospectionAdmins, true
	}
	return "", false
}

// Allows reports whether the caller may introspect.
func (i Introspection) Allows(a domain.Actor) bool {
	switch i {
	case IntrospectionAll:
		return true
	case IntrospectionAdmins:
		return a.Role == domain.RoleAdmin
	}
	return false
}

// introspectionPolicy turns introspection on for the callers the setting
// allows.
type introspectionPolicy struct{ mode Introspection }

func (introspectionPolicy) ExtensionName() string                   { return "IntrospectionPolicy" }
func (introspectionPolicy) Validate(graphql.ExecutableSchema) error { return nil }
func (p introspectionPolicy) MutateOperationContext(ctx context.Context, op *graphql.OperationContext) *gqlerror.Error {
	a, _ := domain.ActorFromContext(ctx)
	op.DisableIntrospection = !p.mode.Allows(a)
	if op.DisableIntrospection && introspects(op.Doc, op.Operation.SelectionSet) {
		err := gqlerror.Errorf("introspection is not allowed for this caller")
		err.Extensions = map[string]any{"code": "GRAPHQL_VALIDATION_FAILED"}
		return err
	}
	return nil
}

// introspects reports whether a root selection set asks for __schema or
// __type (they exist only on the root query type).
func introspects(doc *ast.QueryDocument, set ast.SelectionSet) bool {
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			if s.Name == "__schema" || s.Name == "__type" {
				return true
			}
		case *ast.InlineFragment:
			if introspects(doc, s.SelectionSet) {
				return true
			}
		case *ast.FragmentSpread:
			if f := doc.Fragments.ForName(s.Name); f != nil && introspects(doc, f.SelectionSet) {
				return true
			}
		}
	}
	return false
}
