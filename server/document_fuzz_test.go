package server

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"
	"github.com/vektah/gqlparser/v2/validator/rules"

	"switchboard/internal/hostile"
	"switchboard/resolvers"
)

// fuzzLimits are small, so that the naive checks below stay cheap.
var fuzzLimits = Limits{MaxTokens: 15_000, MaxSelections: 300, MaxWidth: 40, MaxFieldPairs: 500}.withDefaults()

// FuzzDocumentLimits checks the document limits on any text: they end, and
// what they accept really is within them, counted the naive way.
func FuzzDocumentLimits(f *testing.F) {
	schema := resolvers.NewExecutableSchema(nil, nil).Schema()
	cycles := rules.NewRules()
	cycles.AddRule(rules.NoFragmentCyclesRule.Name, rules.NoFragmentCyclesRule.RuleFunc)
	f.Fuzz(func(t *testing.T, query string) {
		doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: query}, fuzzLimits.MaxTokens)
		if err != nil {
			return
		}
		refusal := checkDocument(doc, fuzzLimits)
		if refusal != nil && refusal.Rule != "NoFragmentCycles" {
			return // refused for its size; a cycle too may hide in it
		}
		cyclic := len(validator.ValidateWithRules(schema, doc, cycles)) > 0
		switch {
		case refusal != nil && refusal.Rule == "NoFragmentCycles" && !cyclic:
			t.Fatalf("reported a cycle the validator does not see: %v", refusal)
		case refusal == nil && cyclic:
			t.Fatalf("accepted a document with a fragment cycle")
		case refusal != nil:
			return
		}
		total := 0
		for _, op := range doc.Operations {
			total += naiveSelections(doc, op.SelectionSet, fuzzLimits.MaxSelections+1-total)
		}
		for _, fr := range doc.Fragments {
			total += naiveSelections(doc, fr.SelectionSet, fuzzLimits.MaxSelections+1-total)
		}
		if total > fuzzLimits.MaxSelections {
			t.Fatalf("accepted %d selections or more, over the limit of %d", total, fuzzLimits.MaxSelections)
		}
	})
}

func TestDocumentLimitsMeasureEveryFragmentOfOneName(t *testing.T) {
	// A second fragment of one name is validated though never spread.
	var body strings.Builder
	for i := range 40 {
		fmt.Fprintf(&body, " f%d: me {", i)
		for j := range 30 {
			fmt.Fprintf(&body, " g%d: id", j)
		}
		body.WriteString(" }")
	}
	query := "query { ...A } fragment A on Query { me { id } } fragment A on Query {" + body.String() + " }"
	doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: query}, 15_000)
	if err != nil {
		t.Fatal(err)
	}
	limits := Limits{MaxSelections: 1000}.withDefaults()
	if err := checkDocument(doc, limits); err == nil || err.Extensions["code"] != codeComplexity {
		t.Errorf("1,240 selections in a second fragment A: %v", err)
	}
}

// naiveSelections expands set the obvious way, giving up past budget.
func naiveSelections(doc *ast.QueryDocument, set ast.SelectionSet, budget int) int {
	n := 0
	for _, sel := range set {
		if n >= budget {
			return n
		}
		n++
		switch s := sel.(type) {
		case *ast.Field:
			n += naiveSelections(doc, s.SelectionSet, budget-n)
		case *ast.InlineFragment:
			n += naiveSelections(doc, s.SelectionSet, budget-n)
		case *ast.FragmentSpread:
			if fr := doc.Fragments.ForName(s.Name); fr != nil {
				n += naiveSelections(doc, fr.SelectionSet, budget-n)
			}
		}
	}
	return n
}

// TestFuzzCorpusHoldsTheHostileDocuments keeps the committed seed corpus of
// FuzzDocumentLimits in step with internal/hostile. With
// SWITCHBOARD_WRITE_CORPUS=1 it writes the corpus instead.
func TestFuzzCorpusHoldsTheHostileDocuments(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDocumentLimits")
	for _, d := range hostile.Documents() {
		if len(d.Query) > 128<<10 {
			continue // the size alone is the point; the HTTP tests send it
		}
		name := strings.NewReplacer(" ", "-", ",", "").Replace(d.Name)
		path := filepath.Join(dir, name)
		want := fmt.Sprintf("go test fuzz v1\nstring(%s)\n", strconv.Quote(d.Query))
		if os.Getenv("SWITCHBOARD_WRITE_CORPUS") == "1" {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != want {
			t.Errorf("the seed corpus lacks %q, or holds an old version (err %v): run this test with SWITCHBOARD_WRITE_CORPUS=1", d.Name, err)
		}
	}
}
