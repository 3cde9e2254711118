package mongostore_test

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"switchboard/domain"
	mongostore "switchboard/store/mongo"
	"switchboard/store/mongo/mongotest"
	"switchboard/store/storetest"
)

// TestEveryQueryUsesAnIndex runs the conformance suite, records every read
// and conditional write the store sends, and asks the server to explain
// each distinct shape of them: none may scan a collection.
func TestEveryQueryUsesAnIndex(t *testing.T) {
	if !mongotest.Real() {
		t.Skip("explain shows the index a query uses only on a real MongoDB: set " + mongotest.EnvURI +
			" to a MongoDB 6.0+ replica set to run this (FerretDB serves only filters on _id alone from an index, and explains SQLite's plans)")
	}
	var mu sync.Mutex
	ops := map[string]mongostore.Op{}
	record := func(op mongostore.Op) {
		shape := op.Collection + " " + shapeOf(op.Command)
		mu.Lock()
		defer mu.Unlock()
		if _, ok := ops[shape]; !ok {
			ops[shape] = op
		}
	}
	traced := func(t *testing.T, sink domain.EventSink) domain.Store {
		s := mongotest.New(t, mongostore.Options{EventSink: sink})
		mongostore.SetTrace(s, record)
		return s
	}
	storetest.Run(t, storetest.Factory{
		New:           func(t *testing.T) domain.Store { return traced(t, nil) },
		NewPublishing: traced,
		Atomic:        true,
	})
	// Reconcile's sweep, which the suite does not run.
	rs := traced(t, nil)
	if _, err := rs.(*mongostore.Store).Reconcile(bg); err != nil {
		t.Fatal(err)
	}

	t.Run("every query the suite sent uses an index", func(t *testing.T) {
		if len(ops) == 0 {
			t.Skip("no query ran (the suite was filtered out)")
		}
		s := mongotest.New(t, mongostore.Options{})
		shapes := make([]string, 0, len(ops))
		for shape := range ops {
			shapes = append(shapes, shape)
		}
		sort.Strings(shapes)
		for _, shape := range shapes {
			op := ops[shape]
			var plan bson.Raw
			err := s.Database().RunCommand(bg, bson.D{{Key: "explain", Value: op.Command}, {Key: "verbosity", Value: "queryPlanner"}}).Decode(&plan)
			if err != nil {
				t.Errorf("explain %s: %v", shape, err)
				continue
			}
			stages := winningStages(plan, false)
			switch {
			case len(stages) == 0:
				t.Errorf("explain of %s shows no winning plan:\n%s", shape, plan)
			case slices.Contains(stages, "COLLSCAN"):
				t.Errorf("%s scans a collection: %v\n%s", shape, stages, plan)
			case !slices.ContainsFunc(stages, usesIndex):
				t.Errorf("%s uses no index: %v\n%s", shape, stages, plan)
			case slices.Contains(stages, "SORT"):
				t.Logf("note: %s sorts in memory: %v", shape, stages)
			}
		}
		t.Logf("%d query shapes explained", len(shapes))
	})
}

func usesIndex(stage string) bool {
	for _, s := range []string{"IXSCAN", "IDHACK", "COUNT_SCAN", "DISTINCT_SCAN"} {
		if strings.Contains(stage, s) {
			return true
		}
	}
	return false
}

// winningStages returns every stage name inside the winning plans of an
// explain output, whatever its version's layout (classic or slot-based
// engine, aggregate stages, shards).
func winningStages(doc bson.Raw, inPlan bool) []string {
	var out []string
	elems, err := doc.Elements()
	if err != nil {
		return nil
	}
	for _, e := range elems {
		k, v := e.Key(), e.Value()
		if k == "rejectedPlans" {
			continue
		}
		if inPlan && k == "stage" {
			if s, ok := v.StringValueOK(); ok {
				out = append(out, s)
			}
		}
		in := inPlan || k == "winningPlan"
		switch v.Type {
		case bson.TypeEmbeddedDocument:
			out = append(out, winningStages(v.Document(), in)...)
		case bson.TypeArray:
			vals, _ := v.Array().Values()
			for _, x := range vals {
				if x.Type == bson.TypeEmbeddedDocument {
					out = append(out, winningStages(x.Document(), in)...)
				}
			}
		}
	}
	return out
}

// shapeOf is a command with its values replaced by their types, and each
// array by the shape of its first element: two queries of one shape use the
// same plan.
func shapeOf(v any) string {
	raw, err := bson.Marshal(v)
	if err != nil {
		return fmt.Sprintf("unmarshalable %T", v)
	}
	return docShape(raw)
}

func docShape(doc bson.Raw) string {
	elems, _ := doc.Elements()
	var b strings.Builder
	b.WriteString("{")
	for i, e := range elems {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(e.Key() + ": " + valueShape(e.Value()))
	}
	b.WriteString("}")
	return b.String()
}

func valueShape(v bson.RawValue) string {
	switch v.Type {
	case bson.TypeEmbeddedDocument:
		return docShape(v.Document())
	case bson.TypeArray:
		vals, _ := v.Array().Values()
		if len(vals) == 0 {
			return "[]"
		}
		return "[" + valueShape(vals[0]) + "...]"
	}
	return v.Type.String()
}
