package server_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"switchboard/internal/hostile"
	"switchboard/internal/testserver"
	"switchboard/server"
)

// checkHostile checks one answer to a hostile document: in time, with the
// expected code, with at most 50 errors and one that says how many more.
func checkHostile(t *testing.T, how string, d hostile.Document, took time.Duration, r answer) {
	t.Helper()
	if took > hang {
		t.Errorf("%s: %s took %v", how, d.Name, took)
	}
	if r.code() != d.Code {
		first := ""
		if len(r.Errors) > 0 {
			first = r.Errors[0].Message
		}
		t.Errorf("%s: %s: code %q (%.200s), want %q", how, d.Name, r.code(), first, d.Code)
	}
	if len(r.Errors) > server.DefaultLimits().MaxErrors+1 {
		t.Errorf("%s: %s: %d errors", how, d.Name, len(r.Errors))
	}
}

func TestHostileDocumentsAreRefusedOrAnsweredAndTheServerStaysUp(t *testing.T) {
	srv := testserver.Start(t, secret)
	admin := srv.Token(t, "ws1", "ada", "admin", "Ada")
	agent := srv.Token(t, "ws1", "ben", "agent", "Ben")
	healthy := func(how string) {
		t.Helper()
		if r := post(t, srv, agent, hostile.Healthy, nil); r.Status != http.StatusOK || len(r.Errors) > 0 {
			t.Fatalf("after %s, a healthy query: HTTP %d %v", how, r.Status, r.Errors)
		}
	}
	for _, d := range hostile.Documents() {
		start := time.Now()
		r := postOperation(t, srv, admin, d.Query, d.OperationName)
		checkHostile(t, "POST", d, time.Since(start), r)
		// As a caller who may not introspect: the same bounds.
		start = time.Now()
		r = postOperation(t, srv, agent, d.Query, d.OperationName)
		if took := time.Since(start); took > hang || len(r.Errors) > server.DefaultLimits().MaxErrors+1 {
			t.Errorf("POST as an agent: %s took %v, %d errors", d.Name, took, len(r.Errors))
		}
		if len(d.Query) < 60<<10 && !strings.HasPrefix(d.Query, "mutation") {
			start = time.Now()
			checkHostile(t, "GET", d, time.Since(start), get(t, srv, admin, d.Query, d.OperationName))
		}
		if len(d.Query) < 200<<10 {
			start = time.Now()
			checkHostile(t, "WebSocket", d, time.Since(start), overSocket(t, srv, admin, d.Query, d.OperationName))
		}
		healthy(d.Name)
	}
}

func TestFragmentCyclesAreReportedInTheValidatorsWords(t *testing.T) {
	srv := testserver.Start(t, secret)
	admin := srv.Token(t, "ws1", "ada", "admin", "Ada")
	for doc, want := range map[string]string{
		`query { ...A } fragment A on Query { me { ...A } }`:                                 `Cannot spread fragment "A" within itself.`,
		`query { ...A } fragment A on Query { ...B } fragment B on Query { me { id } ...A }`: `Cannot spread fragment "A" within itself via "B".`,
	} {
		r := post(t, srv, admin, doc, nil)
		if r.code() != "GRAPHQL_VALIDATION_FAILED" || r.Errors[0].Message != want {
			t.Errorf("%s: %+v, want %q", doc, r.Errors, want)
		}
	}
}

func TestAResponseCarriesAtMostFiftyErrorsAndSaysHowManyMore(t *testing.T) {
	srv := testserver.Start(t, secret)
	agent := srv.Token(t, "ws1", "ben", "agent", "Ben")
	// 80 validation errors.
	var vars strings.Builder
	for i := range 80 {
		fmt.Fprintf(&vars, "$v%d: Int ", i)
	}
	r := post(t, srv, agent, "query("+vars.String()+") { me { id } }", nil)
	if len(r.Errors) != 51 || r.Errors[50].Message != "30 more errors were left out" || r.code() != "GRAPHQL_VALIDATION_FAILED" {
		t.Errorf("80 validation errors: got %d, the last %+v", len(r.Errors), r.Errors[len(r.Errors)-1])
	}
	// 60 errors of execution: a field only admins may read, under aliases.
	var fields strings.Builder
	for i := range 60 {
		fmt.Fprintf(&fields, " a%d: agents { id }", i)
	}
	integration := srv.Token(t, "ws1", "hook", "integration", "Hook")
	r = post(t, srv, integration, "query {"+fields.String()+" }", nil)
	if len(r.Errors) != 51 || r.Errors[50].Message != "10 more errors were left out" {
		t.Errorf("60 errors of execution: got %d: %+v", len(r.Errors), r.Errors)
	}
}

func TestAnOperationPastItsDeadlineIsUnavailableWithRetryAfter(t *testing.T) {
	srv := testserver.StartWith(t, secret, func(c *server.Config) {
		c.Limits = server.DefaultLimits()
		c.Limits.OperationTimeout = time.Nanosecond
	})
	agent := srv.Token(t, "ws1", "ben", "agent", "Ben")
	r := post(t, srv, agent, hostile.Healthy, nil)
	if r.Status != http.StatusServiceUnavailable || r.code() != "UNAVAILABLE" || r.Header.Get("Retry-After") == "" {
		t.Errorf("HTTP %d, Retry-After %q, %+v", r.Status, r.Header.Get("Retry-After"), r.Errors)
	}
	if r := overSocket(t, srv, agent, hostile.Healthy, ""); r.code() != "UNAVAILABLE" {
		t.Errorf("over WebSocket: %+v", r)
	}
}

func TestIntrospectionCountsInTheComplexityExceptUnderDev(t *testing.T) {
	many := hostile.Documents()[len(hostile.Documents())-2]
	if !strings.HasPrefix(many.Name, "introspection") {
		t.Fatalf("the document list changed: %s", many.Name)
	}
	prod := testserver.Start(t, secret)
	admin := prod.Token(t, "ws1", "ada", "admin", "Ada")
	if r := post(t, prod, admin, many.Query, nil); r.code() != "COMPLEXITY_LIMIT_EXCEEDED" {
		t.Errorf("30 whole-schema introspections: %q %+v", r.code(), r.Errors)
	}
	if r := post(t, prod, admin, hostile.PlaygroundIntrospection, nil); r.Status != http.StatusOK || len(r.Errors) > 0 {
		t.Errorf("the playground's introspection: HTTP %d %+v", r.Status, r.Errors)
	}
	dev := testserver.StartWith(t, secret, func(c *server.Config) { c.Dev = true })
	admin = dev.Token(t, "ws1", "ada", "admin", "Ada")
	if r := post(t, dev, admin, many.Query, nil); r.Status != http.StatusOK || len(r.Errors) > 0 {
		t.Errorf("under dev, 30 whole-schema introspections: HTTP %d %+v", r.Status, r.Errors)
	}
}
