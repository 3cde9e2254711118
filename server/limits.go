package server

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/99designs/gqlgen/complexity"
	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"switchboard/domain"
)

// Limits bound what one request may ask of the server. Together they keep
// the work of any document of at most MaxBodyBytes and MaxTokens to a few
// milliseconds before it is refused.
type Limits struct {
	// MaxBodyBytes bounds a POST body (413 beyond).
	MaxBodyBytes int64
	// MaxTokens bounds the lexical tokens of a document, before parsing
	// builds anything.
	MaxTokens int
	// MaxSelections bounds the selections (fields and fragment spreads) of
	// a document, counting a fragment's selections every time it is spread,
	// and each operation and fragment definition on its own, as the
	// validator walks them. Checked before validation: it is what keeps
	// fragments spreading fragments from growing the work exponentially.
	MaxSelections int
	// MaxWidth bounds the fields of one selection set, fragments' included.
	MaxWidth int
	// MaxFieldPairs bounds the pairs of same-named fields the validator
	// would compare to decide whether they can be merged (weighted by their
	// arguments), checked before validation: 60 fields of one name, each
	// selecting 60 of one name, would cost it millions of comparisons.
	MaxFieldPairs int
	// MaxComplexity bounds the operation's cost: every field 1 plus its
	// children, pages weighted by their size (resolvers.setComplexity),
	// introspection included except under `switchboard dev`.
	MaxComplexity int
	// MaxDepth bounds how deeply selections nest.
	MaxDepth int
	// MaxErrors bounds the errors of one response; one more error says how
	// many were left out.
	MaxErrors int
	// OperationTimeout bounds one query or mutation over HTTP or WebSocket:
	// its context ends then, and what is left of it stops.
	OperationTimeout time.Duration
}

// DefaultLimits are generous for any real client and small for an attacker.
func DefaultLimits() Limits {
	return Limits{
		MaxBodyBytes: 1 << 20, MaxTokens: 15_000, MaxSelections: 10_000, MaxWidth: 200, MaxFieldPairs: 20_000,
		MaxComplexity: 10_000, MaxDepth: 12, MaxErrors: 50, OperationTimeout: 10 * time.Second,
	}
}

// withDefaults fills the limits left at zero with the defaults.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	for _, f := range []struct{ v, def *int }{{&l.MaxTokens, &d.MaxTokens}, {&l.MaxSelections, &d.MaxSelections},
		{&l.MaxWidth, &d.MaxWidth}, {&l.MaxFieldPairs, &d.MaxFieldPairs}, {&l.MaxComplexity, &d.MaxComplexity},
		{&l.MaxDepth, &d.MaxDepth}, {&l.MaxErrors, &d.MaxErrors}} {
		if *f.v == 0 {
			*f.v = *f.def
		}
	}
	if l.MaxBodyBytes == 0 {
		l.MaxBodyBytes = d.MaxBodyBytes
	}
	if l.OperationTimeout == 0 {
		l.OperationTimeout = d.OperationTimeout
	}
	return l
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

// complexityLimit is gqlgen's complexity limit, with introspection priced
// by what it returns (introspectionCost) instead of nearly free. Under
// `switchboard dev` introspection stays free.
type complexityLimit struct {
	max                int
	schema             graphql.ExecutableSchema
	introspection      introspectionCost
	countIntrospection bool
}

func newComplexityLimit(max int, schema graphql.ExecutableSchema, countIntrospection bool) complexityLimit {
	return complexityLimit{max: max, schema: schema, introspection: newIntrospectionCost(schema.Schema()), countIntrospection: countIntrospection}
}

// priceOwnIntrospection leaves __type to introspectionCost; gqlgen already
// leaves out __schema.
var priceOwnIntrospection = complexity.WithIgnoreFields(map[string]struct{}{"Query.__type": {}})

func (complexityLimit) ExtensionName() string                   { return "ComplexityLimit" }
func (complexityLimit) Validate(graphql.ExecutableSchema) error { return nil }
func (c complexityLimit) MutateOperationContext(ctx context.Context, op *graphql.OperationContext) *gqlerror.Error {
	if ctx.Err() != nil {
		return operationEnded()
	}
	cost := complexity.Calculate(ctx, c.schema, op.Operation, op.Variables, priceOwnIntrospection)
	if c.countIntrospection {
		cost = satAdd(cost, c.introspection.of(op.Operation.SelectionSet))
	}
	if cost > c.max {
		return complexityError("operation has complexity %d, which exceeds the limit of %d", cost, c.max)
	}
	return nil
}

// capErrors keeps at most max errors, then one that says how many more
// there were: a response stays small whatever the document provokes. A
// list it capped already is left as it is.
func capErrors(errs gqlerror.List, max int) gqlerror.List {
	if len(errs) <= max || (len(errs) == max+1 && errs[max].Extensions[extOmitted] != nil) {
		return errs
	}
	omitted := len(errs) - max
	code, ok := errs[max].Extensions["code"]
	if !ok {
		code = string(domain.CodeInternal)
	}
	more := &gqlerror.Error{
		Message:    fmt.Sprintf("%d more errors were left out", omitted),
		Extensions: map[string]any{"code": code, extOmitted: omitted},
	}
	return append(errs[:max:max], more)
}

// extOmitted is the extension that counts the errors capErrors left out.
const extOmitted = "omittedErrors"

// operationEnded is the error of an operation whose context ended before
// it was done: the client went away (nobody reads it) or the server's
// deadline passed (the client may try again later).
func operationEnded() *gqlerror.Error {
	e := gqlerror.Errorf("the operation took longer than the server allows; try again later")
	e.Extensions = map[string]any{"code": string(domain.CodeUnavailable)}
	return e
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
