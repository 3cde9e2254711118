package server

import (
	"context"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"

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
	// MaxWidth bounds the fields of one selection set. The validator
	// compares the fields of a selection set pairwise, so a few thousand
	// repeats of one field would cost seconds of CPU before any other limit
	// is checked; this check runs before validation.
	MaxWidth int
}

// DefaultLimits are generous for any real client and small for an attacker.
func DefaultLimits() Limits {
	return Limits{MaxBodyBytes: 1 << 20, MaxTokens: 15_000, MaxComplexity: 10_000, MaxDepth: 12, MaxWidth: 200}
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
			if strings.HasPrefix(s.Name, "__") {
				// Introspection nests deeply by design (a playground's type
				// references); it is bounded by the validator's own
				// introspection depth rule and by who may introspect.
				continue
			}
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

// withDefaults fills the limits left at zero with the defaults.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	for _, f := range []struct{ v, def *int }{{&l.MaxTokens, &d.MaxTokens}, {&l.MaxComplexity, &d.MaxComplexity},
		{&l.MaxDepth, &d.MaxDepth}, {&l.MaxWidth, &d.MaxWidth}} {
		if *f.v == 0 {
			*f.v = *f.def
		}
	}
	if l.MaxBodyBytes == 0 {
		l.MaxBodyBytes = d.MaxBodyBytes
	}
	return l
}

// widthLimit refuses documents with a selection set wider than max, before
// they are validated.
type widthLimit struct {
	max    int
	tokens int
}

func (widthLimit) ExtensionName() string                   { return "WidthLimit" }
func (widthLimit) Validate(graphql.ExecutableSchema) error { return nil }
func (w widthLimit) MutateOperationParameters(_ context.Context, p *graphql.RawParams) *gqlerror.Error {
	doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: p.Query}, w.tokens)
	if err != nil {
		return nil // the executor reports it
	}
	widest := 0
	for _, op := range doc.Operations {
		widest = max(widest, width(doc, op.SelectionSet))
	}
	for _, f := range doc.Fragments {
		widest = max(widest, width(doc, f.SelectionSet))
	}
	if widest > w.max {
		err := gqlerror.Errorf("a selection set has more than %d fields", w.max)
		err.Extensions = map[string]any{"code": codeComplexity}
		return err
	}
	return nil
}

// width returns the most fields one selection set in set has, counting the
// fields its fragments add to it, as the validator does when it compares
// them.
func width(doc *ast.QueryDocument, set ast.SelectionSet) int {
	flat, widest := 0, 0
	var walk func(set ast.SelectionSet, seen map[string]bool)
	walk = func(set ast.SelectionSet, seen map[string]bool) {
		for _, sel := range set {
			switch s := sel.(type) {
			case *ast.Field:
				flat++
				widest = max(widest, width(doc, s.SelectionSet))
			case *ast.InlineFragment:
				walk(s.SelectionSet, seen)
			case *ast.FragmentSpread:
				if f := doc.Fragments.ForName(s.Name); f != nil && !seen[s.Name] {
					seen[s.Name] = true
					walk(f.SelectionSet, seen)
				}
			}
		}
	}
	walk(set, map[string]bool{})
	return max(flat, widest)
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
