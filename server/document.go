package server

import (
	"fmt"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// documentShape measures a parsed document before it is validated, so that
// the validator, the complexity walk and the executor only ever see
// documents whose cost is known to be small.
//
// Every figure is computed in time linear in the document: fragments are
// found by name in a map, and what a fragment adds to wherever it is spread
// is computed once and reused. Only the walks over expanded selections (a
// fragment's fields counted every time it is spread) revisit a fragment, and
// they run only after the expanded size has been found to be within
// MaxSelections, so they are bounded by it.
type documentShape struct {
	fragments map[string]*ast.FragmentDefinition
	// expanded is the memo of fragmentSelections: the selections a
	// fragment expands to, saturating at MaxSelections+1.
	expanded map[string]int
	// entered holds the fragments whose expansion is being computed, each
	// with the length of path when it was entered: meeting one again is a
	// cycle, and path from there names the fragments it goes through.
	entered map[string]int
	path    []*ast.FragmentSpread
	cycle   *gqlerror.Error
	limits  Limits
}

// checkDocument refuses a document that would cost too much to validate or
// run: a fragment cycle (reported as the validator reports it), more
// expanded selections than the limit, a selection set wider than the limit, or
// more pairs of same-named fields than the validator may compare.
func checkDocument(doc *ast.QueryDocument, l Limits) *gqlerror.Error {
	s := &documentShape{
		limits:    l,
		fragments: make(map[string]*ast.FragmentDefinition, len(doc.Fragments)),
		expanded:  make(map[string]int, len(doc.Fragments)),
		entered:   make(map[string]int),
	}
	for _, f := range doc.Fragments {
		// The first of duplicate names, as the validator's lookups find
		// (it reports the duplicate itself).
		if _, ok := s.fragments[f.Name]; !ok {
			s.fragments[f.Name] = f
		}
	}

	// The validator walks every operation and every fragment definition on
	// its own, entering the fragments each reaches; their expansions summed
	// bound that walk. A spread counts as a selection, so that a long chain
	// of fragments, each entered again from every fragment before it, is
	// counted at its cost.
	total := 0
	add := func(n int) { total = min(total+n, l.MaxSelections+1) }
	for _, op := range doc.Operations {
		add(s.setSelections(op.SelectionSet))
	}
	for _, f := range doc.Fragments {
		if s.fragments[f.Name] == f {
			add(s.fragmentSelections(f.Name))
		} else {
			// A second fragment of one name is never spread (spreads find
			// the first), but it is validated all the same.
			add(s.setSelections(f.SelectionSet))
		}
	}
	if s.cycle != nil {
		return s.cycle
	}
	if total > l.MaxSelections {
		return complexityError("the document has more than %d selections, counting a fragment's selections each time it is spread", l.MaxSelections)
	}

	m := merger{shape: s}
	for _, op := range doc.Operations {
		m.merge([]ast.SelectionSet{op.SelectionSet})
	}
	for _, f := range doc.Fragments {
		m.merge([]ast.SelectionSet{f.SelectionSet})
	}
	if m.widest > l.MaxWidth {
		return complexityError("a selection set has more than %d fields", l.MaxWidth)
	}
	if m.pairs > l.MaxFieldPairs {
		return complexityError("the document repeats field names too often: more than %d pairs of same-named fields would have to be compared", l.MaxFieldPairs)
	}
	return nil
}

// setSelections returns the selections set expands to (saturating past
// MaxSelections).
func (s *documentShape) setSelections(set ast.SelectionSet) int {
	n := 0
	for _, sel := range set {
		n++
		switch sel := sel.(type) {
		case *ast.Field:
			n += s.setSelections(sel.SelectionSet)
		case *ast.InlineFragment:
			n += s.setSelections(sel.SelectionSet)
		case *ast.FragmentSpread:
			s.path = append(s.path, sel)
			n += s.fragmentSelections(sel.Name)
			s.path = s.path[:len(s.path)-1]
		}
		if n > s.limits.MaxSelections {
			return s.limits.MaxSelections + 1
		}
	}
	return n
}

// fragmentSelections returns the selections the named fragment expands
// to, once per fragment; an unknown fragment adds none (the validator
// reports it).
func (s *documentShape) fragmentSelections(name string) int {
	if n, ok := s.expanded[name]; ok {
		return n
	}
	if at, ok := s.entered[name]; ok {
		s.reportCycle(name, at)
		return 0
	}
	f, ok := s.fragments[name]
	if !ok {
		return 0
	}
	s.entered[name] = len(s.path)
	n := s.setSelections(f.SelectionSet)
	delete(s.entered, name)
	s.expanded[name] = n
	return n
}

// reportCycle keeps the first cycle found, in the validator's words
// (NoFragmentCycles), at the spread that closes it.
func (s *documentShape) reportCycle(name string, at int) {
	if s.cycle != nil || len(s.path) == 0 {
		return
	}
	closing := s.path[len(s.path)-1]
	var via []string
	for _, spread := range s.path[at : len(s.path)-1] {
		via = append(via, fmt.Sprintf("%q", spread.Name))
	}
	msg := fmt.Sprintf("Cannot spread fragment %q within itself", name)
	if len(via) > 0 {
		msg += " via " + strings.Join(via, ", ")
	}
	err := gqlerror.ErrorPosf(closing.Position, "%s.", msg)
	err.Rule = "NoFragmentCycles"
	err.Extensions = map[string]any{"code": "GRAPHQL_VALIDATION_FAILED"}
	s.cycle = err
}

// merger estimates the validator's "overlapping fields can be merged" work.
// The validator compares every two fields of one response name in a
// selection set, and, for two fields that both select, every two fields of
// one name across their selections. So the estimate merges the selections
// of same-named fields, as the validator does in effect, and counts the
// pairs in each merged set: k fields of one name cost k(k-1)/2 comparisons,
// each weighted by the arguments it compares pairwise. Each expanded field
// is looked at once, so the walk is bounded by the expanded size.
type merger struct {
	shape  *documentShape
	widest int
	pairs  int
}

func (m *merger) merge(sets []ast.SelectionSet) {
	var fields []*ast.Field
	for _, set := range sets {
		before := len(fields)
		fields = m.flatten(set, fields)
		m.widest = max(m.widest, len(fields)-before)
	}
	if len(fields) == 0 {
		return
	}
	groups := make(map[string][]*ast.Field, len(fields))
	for _, f := range fields {
		name := f.Alias
		if name == "" {
			name = f.Name
		}
		groups[name] = append(groups[name], f)
	}
	for _, group := range groups {
		if k := len(group); k > 1 {
			// Two fields' arguments are compared name by name, values
			// node by node.
			args := 0
			for _, f := range group {
				args = max(args, argumentNodes(f.Arguments))
			}
			m.pairs = satAdd(m.pairs, satMul(k*(k-1)/2, satAdd(1, satMul(args, args))))
		}
		var children []ast.SelectionSet
		for _, f := range group {
			if len(f.SelectionSet) > 0 {
				children = append(children, f.SelectionSet)
			}
		}
		if len(children) > 0 {
			m.merge(children)
		}
	}
}

// flatten appends the fields of set, through inline fragments and fragment
// spreads, to out.
func (m *merger) flatten(set ast.SelectionSet, out []*ast.Field) []*ast.Field {
	for _, sel := range set {
		switch sel := sel.(type) {
		case *ast.Field:
			out = append(out, sel)
		case *ast.InlineFragment:
			out = m.flatten(sel.SelectionSet, out)
		case *ast.FragmentSpread:
			if f, ok := m.shape.fragments[sel.Name]; ok {
				out = m.flatten(f.SelectionSet, out)
			}
		}
	}
	return out
}

// argumentNodes counts the arguments and the nodes of their values.
func argumentNodes(args ast.ArgumentList) int {
	n := 0
	for _, a := range args {
		n += 1 + valueNodes(a.Value)
	}
	return n
}

func valueNodes(v *ast.Value) int {
	if v == nil {
		return 0
	}
	n := 1
	for _, c := range v.Children {
		n += valueNodes(c.Value)
	}
	return n
}

const maxInt = int(^uint(0) >> 1)

func satAdd(a, b int) int {
	if a > maxInt-b {
		return maxInt
	}
	return a + b
}

func satMul(a, b int) int {
	if a != 0 && b > maxInt/a {
		return maxInt
	}
	return a * b
}

func complexityError(format string, args ...any) *gqlerror.Error {
	err := gqlerror.Errorf(format, args...)
	err.Extensions = map[string]any{"code": codeComplexity}
	return err
}
