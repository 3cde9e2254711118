// Package schema_test checks the schema against the public contract.
package schema_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

// TestSchemaKeepsTheContract checks that every type, field, argument, input
// field and enum value of the public contract (contract/contract.graphqls, a
// copy of the project's contract) is in the schema with the same type and
// default, and that anything the schema adds to a contract field or input
// is optional, so no client of the contract breaks.
func TestSchemaKeepsTheContract(t *testing.T) {
	contract := load(t, "contract/contract.graphqls")
	files, err := filepath.Glob("*.graphqls")
	if err != nil || len(files) == 0 {
		t.Fatalf("no schema files: %v", err)
	}
	schema := load(t, files...)

	for name, want := range contract.Types {
		if want.BuiltIn {
			continue
		}
		got := schema.Types[name]
		if got == nil {
			t.Errorf("type %s is missing", name)
			continue
		}
		if got.Kind != want.Kind {
			t.Errorf("type %s is a %s, the contract says %s", name, got.Kind, want.Kind)
			continue
		}
		for _, v := range want.EnumValues {
			if got.EnumValues.ForName(v.Name) == nil {
				t.Errorf("enum value %s.%s is missing", name, v.Name)
			}
		}
		for _, wf := range want.Fields {
			gf := got.Fields.ForName(wf.Name)
			if gf == nil {
				t.Errorf("field %s.%s is missing", name, wf.Name)
				continue
			}
			where := name + "." + wf.Name
			sameType(t, where, gf.Type, wf.Type)
			sameDefault(t, where, gf.DefaultValue, wf.DefaultValue)
			for _, wa := range wf.Arguments {
				ga := gf.Arguments.ForName(wa.Name)
				if ga == nil {
					t.Errorf("argument %s(%s) is missing", where, wa.Name)
					continue
				}
				sameType(t, where+"("+wa.Name+")", ga.Type, wa.Type)
				sameDefault(t, where+"("+wa.Name+")", ga.DefaultValue, wa.DefaultValue)
			}
			for _, ga := range gf.Arguments {
				if wf.Arguments.ForName(ga.Name) == nil && ga.Type.NonNull && ga.DefaultValue == nil {
					t.Errorf("added argument %s(%s) is required: existing clients would break", where, ga.Name)
				}
			}
		}
		if got.Kind == ast.InputObject {
			for _, gf := range got.Fields {
				if want.Fields.ForName(gf.Name) == nil && gf.Type.NonNull && gf.DefaultValue == nil {
					t.Errorf("added input field %s.%s is required: existing clients would break", name, gf.Name)
				}
			}
		}
	}
}

func load(t *testing.T, paths ...string) *ast.Schema {
	t.Helper()
	var sources []*ast.Source
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		sources = append(sources, &ast.Source{Name: p, Input: string(b)})
	}
	s, err := gqlparser.LoadSchema(sources...)
	if err != nil {
		t.Fatalf("loading %v: %v", paths, err)
	}
	return s
}

func sameType(t *testing.T, where string, got, want *ast.Type) {
	t.Helper()
	if got.String() != want.String() {
		t.Errorf("%s has type %s, the contract says %s", where, got, want)
	}
}

func sameDefault(t *testing.T, where string, got, want *ast.Value) {
	t.Helper()
	switch {
	case want == nil && got == nil:
	case want == nil || got == nil || got.String() != want.String():
		t.Errorf("%s has default %v, the contract says %v", where, got, want)
	}
}
