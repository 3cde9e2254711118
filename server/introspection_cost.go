package server

import (
	"math"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
)

// introspectionCost prices __schema and __type selections by what they
// return: each list of the introspection types is weighted by its average
// length in this schema, so a selection costs about the values its answer
// holds (GraphiQL's schema query costs about as many as it gets back).
// gqlgen's complexity counts nothing under __schema and one per field
// under __type, whatever the lists hold, so aliases of `types` would
// otherwise walk the whole schema many times for a small price.
type introspectionCost struct {
	// weights maps "__Type.fields" and the like to the average length.
	weights map[string]float64
}

func newIntrospectionCost(s *ast.Schema) introspectionCost {
	var types, fields, args, inputFields, enumValues, interfaces, possible float64
	// Type references: how many wrappers (non-null, list) each has, so
	// that a chain of ofType is priced at the chance that it goes on.
	var refs, wrappers float64
	ref := func(t *ast.Type) {
		refs++
		for ; t != nil; t = t.Elem {
			if t.NonNull {
				wrappers++
			}
			if t.Elem != nil {
				wrappers++
			}
		}
	}
	for _, t := range s.Types {
		types++
		switch t.Kind {
		case ast.Object, ast.Interface:
			for _, f := range t.Fields {
				if strings.HasPrefix(f.Name, "__") {
					continue
				}
				fields++
				args += float64(len(f.Arguments))
				ref(f.Type)
				for _, a := range f.Arguments {
					ref(a.Type)
				}
			}
			interfaces += float64(len(t.Interfaces))
		case ast.InputObject:
			inputFields += float64(len(t.Fields))
			for _, f := range t.Fields {
				ref(f.Type)
			}
		case ast.Enum:
			enumValues += float64(len(t.EnumValues))
		}
		if t.Kind == ast.Interface || t.Kind == ast.Union {
			possible += float64(len(s.GetPossibleTypes(t)))
		}
	}
	var directiveArgs float64
	for _, d := range s.Directives {
		directiveArgs += float64(len(d.Arguments))
	}
	per := func(n, of float64) float64 {
		if of == 0 {
			return 0
		}
		return n / of
	}
	return introspectionCost{weights: map[string]float64{
		"__Schema.types":       types,
		"__Schema.directives":  float64(len(s.Directives)),
		"__Type.fields":        per(fields, types),
		"__Type.inputFields":   per(inputFields, types),
		"__Type.enumValues":    per(enumValues, types),
		"__Type.interfaces":    per(interfaces, types),
		"__Type.possibleTypes": per(possible, types),
		"__Field.args":         per(args, fields),
		"__Directive.args":     per(directiveArgs, float64(len(s.Directives))),
		// With w wrappers per reference on average, each ofType is there
		// with about the chance w/(1+w) (the levels of a geometric chain).
		"__Type.ofType": per(wrappers, refs+wrappers),
	}}
}

// of returns the cost of the introspection fields at the root of a
// validated operation (so fragments are resolved and acyclic, and its
// expanded size is within MaxSelections).
func (c introspectionCost) of(root ast.SelectionSet) int {
	total := 0.0
	eachField(root, func(f *ast.Field) {
		if f.Name == "__schema" || f.Name == "__type" {
			total += 1 + c.selection(f.SelectionSet)
		}
	})
	return int(math.Min(math.Ceil(total), float64(maxInt)))
}

func (c introspectionCost) selection(set ast.SelectionSet) float64 {
	total := 0.0
	eachField(set, func(f *ast.Field) {
		weight := 1.0
		if f.ObjectDefinition != nil {
			if w, ok := c.weights[f.ObjectDefinition.Name+"."+f.Name]; ok {
				weight = w
			}
		}
		total += 1 + weight*c.selection(f.SelectionSet)
	})
	return total
}

// eachField calls do for each field of set, through fragments.
func eachField(set ast.SelectionSet, do func(*ast.Field)) {
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			do(s)
		case *ast.InlineFragment:
			eachField(s.SelectionSet, do)
		case *ast.FragmentSpread:
			if s.Definition != nil {
				eachField(s.Definition.SelectionSet, do)
			}
		}
	}
}
