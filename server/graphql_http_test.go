package server_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"switchboard/internal/testserver"
)

// GraphQL over HTTP: methods, media types, bodies, and the status of
// documents that do not parse or validate.

func TestGetRunsAQueryWithVariablesAndOperationName(t *testing.T) {
	srv := testserver.Start(t, secret)
	w := newWorkspace(t, srv)
	id := w.newConversation(t, "maria")
	a := getParams(t, srv, w.ben, "", url.Values{"query": {`{ me { id name } }`}})
	expectHTTP(t, "GET me", a, http.StatusOK, mediaJSON, "")
	if string(a.Data) != `{"me":{"id":"ben","name":"Ben Baker"}}` {
		t.Fatalf("GET me: %s", a.Data)
	}
	a = getParams(t, srv, w.ben, mediaResponse, url.Values{
		"query":         {`query A { me { id } } query B($id: ID!) { conversation(id: $id) { id status } }`},
		"operationName": {"B"},
		"variables":     {`{"id":"` + id + `"}`},
	})
	expectHTTP(t, "GET with variables", a, http.StatusOK, mediaResponse, "")
	if string(a.Data) != `{"conversation":{"id":"`+id+`","status":"NEW"}}` {
		t.Fatalf("GET with variables: %s", a.Data)
	}
	for _, vars := range []string{`not json`, `[1]`, `{"id":"a","id":"b"}`, `{"a":` + strings.Repeat("[", 64) + strings.Repeat("]", 64) + `}`} {
		a = getParams(t, srv, w.ben, "", url.Values{"query": {`{ me { id } }`}, "variables": {vars}})
		expectHTTP(t, "GET with variables "+vars, a, http.StatusBadRequest, mediaJSON, "BAD_USER_INPUT")
	}
	a = getParams(t, srv, w.ben, "", url.Values{"query": {`{ me { id } }`}, "extensions": {`{"a":1,"a":1}`}})
	expectHTTP(t, "GET with a key twice in extensions", a, http.StatusBadRequest, mediaJSON, "BAD_USER_INPUT")
	a = getParams(t, srv, w.ben, "", url.Values{})
	expectHTTP(t, "GET without query", a, http.StatusBadRequest, mediaJSON, "BAD_USER_INPUT")
}

func TestAMutationOverGetIs405AndChangesNothing(t *testing.T) {
	srv := testserver.Start(t, secret)
	w := newWorkspace(t, srv)
	id := w.newConversation(t, "maria")
	for _, accept := range []string{"", mediaJSON, mediaResponse} {
		a := getParams(t, srv, w.ben, accept, url.Values{
			"query":     {`mutation($id: ID!) { resolve(input: {conversationId: $id}) { conversation { status } } }`},
			"variables": {`{"id":"` + id + `"}`},
		})
		media := mediaJSON
		if accept == mediaResponse {
			media = mediaResponse
		}
		expectHTTP(t, "GET mutation", a, http.StatusMethodNotAllowed, media, "BAD_USER_INPUT")
		expectNoData(t, "GET mutation", a)
		if allow := a.Header.Get("Allow"); !strings.Contains(allow, "POST") {
			t.Errorf("GET mutation: Allow %q; want POST", allow)
		}
		// A query and a mutation in one document: the mutation is chosen.
		a = getParams(t, srv, w.ben, accept, url.Values{
			"query":         {`query Q { me { id } } mutation M { setPresence(presence: ONLINE) { agent { id } } }`},
			"operationName": {"M"},
		})
		expectHTTP(t, "GET mutation by operationName", a, http.StatusMethodNotAllowed, media, "BAD_USER_INPUT")
	}
	var out struct {
		Conversation struct {
			Status  string
			Version int
		}
	}
	mustDo(t, srv, w.ben, `query($id: ID!) { conversation(id: $id) { status version } }`, map[string]any{"id": id}, &out)
	if c := out.Conversation; c.Status != "NEW" || c.Version != 1 {
		t.Fatalf("a mutation over GET changed the conversation: %+v", c)
	}
	if p := presence(t, srv, w.ben); p != "OFFLINE" {
		t.Fatalf("a mutation over GET changed presence to %s", p)
	}
}

func TestMethodsOtherThanGetAndPostAre405(t *testing.T) {
	srv := testserver.Start(t, secret)
	w := newWorkspace(t, srv)
	for _, m := range []string{http.MethodPut, http.MethodDelete, http.MethodPatch} {
		a := request(t, srv, m, w.ben, "application/json", "", `{"query":"{ me { id } }"}`)
		if a.Status != http.StatusMethodNotAllowed {
			t.Errorf("%s: HTTP %d; want 405: %s", m, a.Status, a.raw)
		}
		if allow := a.Header.Get("Allow"); !strings.Contains(allow, "GET") || !strings.Contains(allow, "POST") {
			t.Errorf("%s: Allow %q; want GET, POST", m, allow)
		}
	}
}

func TestAPostBodyThatIsNotJSONIs415(t *testing.T) {
	srv := testserver.Start(t, secret)
	w := newWorkspace(t, srv)
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "", "application/graphql"} {
		a := request(t, srv, http.MethodPost, w.ben, ct, "", `{"query":"{ me { id } }"}`)
		expectHTTP(t, "Content-Type "+ct, a, http.StatusUnsupportedMediaType, mediaJSON, "BAD_USER_INPUT")
	}
	a := request(t, srv, http.MethodPost, w.ben, "application/json; charset=utf-8", "", `{"query":"{ me { id } }"}`)
	expectHTTP(t, "application/json with charset", a, http.StatusOK, mediaJSON, "")
}

func TestAnAcceptHeaderWithNoGraphQLMediaTypeIs406(t *testing.T) {
	srv := testserver.Start(t, secret)
	w := newWorkspace(t, srv)
	for _, accept := range []string{"text/html", "application/xml", "application/json;q=0", "image/*"} {
		a := request(t, srv, http.MethodPost, w.ben, "application/json", accept, `{"query":"{ me { id } }"}`)
		if a.Status != http.StatusNotAcceptable {
			t.Errorf("Accept %s: HTTP %d; want 406: %s", accept, a.Status, a.raw)
		}
	}
	// Checked before the token: no token is no excuse.
	a := request(t, srv, http.MethodPost, "", "application/json", "text/html", `{"query":"{ me { id } }"}`)
	if a.Status != http.StatusNotAcceptable {
		t.Errorf("Accept text/html without token: HTTP %d; want 406", a.Status)
	}
}

func TestTheResponseMediaTypeFollowsTheAcceptHeader(t *testing.T) {
	srv := testserver.Start(t, secret)
	w := newWorkspace(t, srv)
	for accept, media := range map[string]string{
		"":                               mediaJSON,
		"*/*":                            mediaJSON,
		"application/json":               mediaJSON,
		"application/*":                  mediaJSON,
		mediaResponse:                    mediaResponse,
		mediaResponse + ", " + mediaJSON: mediaResponse,
		mediaJSON + ";q=0.5, " + mediaResponse + ";q=0.9": mediaResponse,
		mediaResponse + ";q=0.1, application/json":        mediaJSON,
		"text/html, " + mediaResponse:                     mediaResponse,
	} {
		a := postAs(t, srv, w.ben, accept, `{ me { id } }`, nil)
		expectHTTP(t, "Accept "+accept, a, http.StatusOK, media, "")
		if string(a.Data) != `{"me":{"id":"ben"}}` {
			t.Errorf("Accept %s: data %s", accept, a.Data)
		}
	}
}

func TestABodyOver1MiBIs413AndABodyUnderItIsServed(t *testing.T) {
	srv := testserver.Start(t, secret)
	w := newWorkspace(t, srv)
	body := func(size int) string {
		head, tail := `{"query":"{ me { id } }","variables":{"pad":"`, `"}}`
		return head + strings.Repeat("x", size-len(head)-len(tail)) + tail
	}
	for _, accept := range []string{mediaJSON, mediaResponse} {
		a := request(t, srv, http.MethodPost, w.ben, "application/json", accept, body(1<<20+1))
		expectHTTP(t, "a body of 1 MiB + 1", a, http.StatusRequestEntityTooLarge, accept, "BAD_USER_INPUT")
		a = request(t, srv, http.MethodPost, w.ben, "application/json", accept, body(4<<20))
		expectHTTP(t, "a body of 4 MiB", a, http.StatusRequestEntityTooLarge, accept, "BAD_USER_INPUT")
	}
	a := request(t, srv, http.MethodPost, w.ben, "application/json", "", body(1<<20))
	expectHTTP(t, "a body of exactly 1 MiB", a, http.StatusOK, mediaJSON, "")
	// Without a token the answer is 401, whatever the size.
	a = request(t, srv, http.MethodPost, "", "application/json", "", body(2<<20))
	if a.Status != http.StatusUnauthorized {
		t.Errorf("a large body without token: HTTP %d; want 401", a.Status)
	}
}

func TestAMalformedBodyAKeyTwiceOrNestingOver64LevelsIs400(t *testing.T) {
	srv := testserver.Start(t, secret)
	w := newWorkspace(t, srv)
	for _, body := range []string{
		`{"query": "{ me { id } }"`,
		`not json`,
		``,
		`[]`,
		`"{ me { id } }"`,
		`{"query": 5}`,
		`{"variables": {}}`,
		`{"query": ""}`,
		`{"query": "{ me { id } }", "variables": [1]}`,
		`{"query": "{ me { id } }"} {"query": "{ me { id } }"}`,
		`{"query": "{ me { id } }"}}`,
		// A key twice, at any depth, and nesting over 64 levels.
		`{"query": "{ me { id } }", "query": "mutation { logout { agent { id } } }"}`,
		`{"query": "{ me { id } }", "\u0071uery": "mutation { logout { agent { id } } }"}`,
		`{"query": "{ me { id } }", "variables": {"a": 1, "a": 2}}`,
		`{"query": "{ me { id } }", "extensions": {"x": [{"y": 1, "y": 1}]}}`,
		`{"query": "{ me { id } }", "variables": {"a": ` + strings.Repeat("[", 64) + strings.Repeat("]", 64) + `}}`,
	} {
		for _, accept := range []string{mediaJSON, mediaResponse} {
			a := request(t, srv, http.MethodPost, w.ben, "application/json", accept, body)
			expectHTTP(t, "body "+body, a, http.StatusBadRequest, accept, "BAD_USER_INPUT")
			expectNoData(t, "body "+body, a)
		}
	}
}

func TestADocumentThatDoesNotParseIsParseFailed400OrInJSON200(t *testing.T) {
	srv := testserver.Start(t, secret)
	w := newWorkspace(t, srv)
	for _, doc := range []string{`{ me { id }`, `query { me { id } } }`, `mutation { reply(input: {conversationId: "x", text: }) { message { id } } }`, `{ me { id "unterminated } }`} {
		a := postAs(t, srv, w.ben, mediaResponse, doc, nil)
		expectHTTP(t, "graphql-response+json "+doc, a, http.StatusBadRequest, mediaResponse, "GRAPHQL_PARSE_FAILED")
		expectNoData(t, doc, a)
		a = postAs(t, srv, w.ben, mediaJSON, doc, nil)
		expectHTTP(t, "json "+doc, a, http.StatusOK, mediaJSON, "GRAPHQL_PARSE_FAILED")
		expectNoData(t, doc, a)
	}
}

func TestADocumentThatDoesNotValidateIsValidationFailed400OrInJSON200(t *testing.T) {
	srv := testserver.Start(t, secret)
	w := newWorkspace(t, srv)
	for _, tc := range []struct {
		doc  string
		vars map[string]any
	}{
		{`{ me { nope } }`, nil},
		{`{ me }`, nil},
		{`{ queue { totalCount } }`, nil},
		{`{ queue(status: BOGUS) { totalCount } }`, nil},
		{`query($s: QueueStatus!) { queue(status: $s) { totalCount } }`, map[string]any{"s": "BOGUS"}},
		{`query($s: QueueStatus!) { queue(status: $s) { totalCount } }`, nil},
		{`query($n: Int) { queue(status: NEW, first: $n) { totalCount } }`, map[string]any{"n": "ten"}},
		{`mutation { setPresence(presence: ASLEEP) { agent { id } } }`, nil},
		{`query A { me { id } } query A { me { id } }`, nil},
		{`subscription { nope }`, nil},
	} {
		a := postAs(t, srv, w.ben, mediaResponse, tc.doc, tc.vars)
		expectHTTP(t, "graphql-response+json "+tc.doc, a, http.StatusBadRequest, mediaResponse, "GRAPHQL_VALIDATION_FAILED")
		expectNoData(t, tc.doc, a)
		a = postAs(t, srv, w.ben, mediaJSON, tc.doc, tc.vars)
		expectHTTP(t, "json "+tc.doc, a, http.StatusOK, mediaJSON, "GRAPHQL_VALIDATION_FAILED")
		expectNoData(t, tc.doc, a)
	}
}
