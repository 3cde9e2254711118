package apitest

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"switchboard/server"
)

// The HTTP transport (GraphQL over HTTP), authentication, limits, error codes
// and introspection.

// claims are a test token's claims, valid for an hour of e's clock.
func (e *Env) claims(ws, sub, role string) jwt.MapClaims {
	now := e.Clock.Now()
	return jwt.MapClaims{
		"sub": sub, "workspace_id": ws, "role": role, "name": "Crafted " + sub, "email": sub + "@example.com",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
}

func sign(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// expectUnauthenticated checks a refused token's answer.
func expectUnauthenticated(t *testing.T, what string, r *Response) {
	t.Helper()
	if r.Status != http.StatusUnauthorized || r.Code() != "UNAUTHENTICATED" {
		t.Errorf("%s: HTTP %d code %q; want 401 UNAUTHENTICATED: %s", what, r.Status, r.Code(), r.Raw)
	}
	if h := r.Header.Get("WWW-Authenticate"); !strings.HasPrefix(h, "Bearer") {
		t.Errorf("%s: WWW-Authenticate %q; want a Bearer challenge", what, h)
	}
	expectNoData(t, what, r)
	assertNoLeak(t, r)
}

func testMissingToken(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	for _, header := range []string{"", "Bearer", "Bearer ", "Basic YmVuOnNlY3JldA==", w.Ben.Token, "Token " + w.Ben.Token, "Bearer not-a-jwt", "Bearer a.b.c"} {
		req, err := http.NewRequest(http.MethodPost, e.URL, strings.NewReader(`{"query":"{ me { id } }"}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if header != "" {
			req.Header.Set("Authorization", header)
		}
		expectUnauthenticated(t, "Authorization "+header, e.Send(req))
	}
	// A GET, and a mutation, are refused the same way.
	expectUnauthenticated(t, "GET without token", e.get("", "", url.Values{"query": {`{ me { id } }`}}))
	expectUnauthenticated(t, "mutation without token", e.Post("", `mutation { logout { agent { id } } }`, nil))
	r := e.postAs("", mediaResponse, `{ me { id } }`, nil)
	expectUnauthenticated(t, "graphql-response+json without token", r)
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, mediaResponse) {
		t.Errorf("401 in %s; want %s", ct, mediaResponse)
	}
}

func testBadTokens(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	good := func() jwt.MapClaims { return e.claims("ws", "ben", "agent") }
	with := func(k string, v any) jwt.MapClaims { c := good(); c[k] = v; return c }
	without := func(k string) jwt.MapClaims { c := good(); delete(c, k); return c }
	now := e.Clock.Now()

	// The crafted claims are right: signed properly, they pass.
	if r := e.Post(sign(t, jwt.SigningMethodHS256, Secret, good()), `{ me { id } }`, nil); r.Status != http.StatusOK || r.Code() != "" {
		t.Fatalf("a properly signed crafted token is refused: HTTP %d %s", r.Status, r.Raw)
	}

	valid := sign(t, jwt.SigningMethodHS256, Secret, good())
	parts := strings.Split(valid, ".")
	adminPayload, _ := json.Marshal(with("role", "admin"))
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(adminPayload) + "." + parts[2]
	noneHeader := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	goodPayload, _ := json.Marshal(good())
	handNone := noneHeader + "." + base64.RawURLEncoding.EncodeToString(goodPayload) + "."

	withHeader := func(k string, v any) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, good())
		tok.Header[k] = v
		s, err := tok.SignedString(Secret)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// rawClaims signs claims as written, with what jwt's encoder never
	// writes: a key twice.
	rawClaims := func(claims string) string {
		text := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(claims))
		sig, err := jwt.SigningMethodHS256.Sign(text, Secret)
		if err != nil {
			t.Fatal(err)
		}
		return text + "." + base64.RawURLEncoding.EncodeToString(sig)
	}
	exp := strconv.FormatInt(now.Add(time.Hour).Unix(), 10)

	cases := map[string]string{
		"alg none":                              sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, good()),
		"alg none by hand":                      handNone,
		"alg none keeping the HS256 signature":  noneHeader + "." + parts[1] + "." + parts[2],
		"a wrong secret":                        sign(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-another"), good()),
		"HS512 with the right secret":           sign(t, jwt.SigningMethodHS512, Secret, good()),
		"HS384 with the right secret":           sign(t, jwt.SigningMethodHS384, Secret, good()),
		"RS256":                                 sign(t, jwt.SigningMethodRS256, rsaKey, good()),
		"a tampered payload":                    tampered,
		"no signature":                          parts[0] + "." + parts[1] + ".",
		"expired 31 s ago":                      sign(t, jwt.SigningMethodHS256, Secret, with("exp", now.Add(-31*time.Second).Unix())),
		"expired a day ago":                     sign(t, jwt.SigningMethodHS256, Secret, with("exp", now.Add(-24*time.Hour).Unix())),
		"without exp":                           sign(t, jwt.SigningMethodHS256, Secret, without("exp")),
		"exp not a number":                      sign(t, jwt.SigningMethodHS256, Secret, with("exp", "tomorrow")),
		"not valid for a minute":                sign(t, jwt.SigningMethodHS256, Secret, with("nbf", now.Add(time.Minute).Unix())),
		"oversized":                             sign(t, jwt.SigningMethodHS256, Secret, with("pad", strings.Repeat("x", 9000))),
		"without workspace_id":                  sign(t, jwt.SigningMethodHS256, Secret, without("workspace_id")),
		"an empty workspace_id":                 sign(t, jwt.SigningMethodHS256, Secret, with("workspace_id", "")),
		"without sub":                           sign(t, jwt.SigningMethodHS256, Secret, without("sub")),
		"without role":                          sign(t, jwt.SigningMethodHS256, Secret, without("role")),
		"an unknown role":                       sign(t, jwt.SigningMethodHS256, Secret, with("role", "superuser")),
		"role AGENT":                            sign(t, jwt.SigningMethodHS256, Secret, with("role", "AGENT")),
		"role Admin":                            sign(t, jwt.SigningMethodHS256, Secret, with("role", "Admin")),
		"role ADMİN (Turkish dotted capital I)": sign(t, jwt.SigningMethodHS256, Secret, with("role", "ADMİN")),
		"role twice":                            rawClaims(`{"sub":"ben","workspace_id":"ws","role":"agent","role":"admin","exp":` + exp + `}`),
		"exp a numeric string":                  sign(t, jwt.SigningMethodHS256, Secret, with("exp", exp)),
		"iat a numeric string":                  sign(t, jwt.SigningMethodHS256, Secret, with("iat", strconv.FormatInt(now.Unix(), 10))),
		"issued a minute ahead":                 sign(t, jwt.SigningMethodHS256, Secret, with("iat", now.Add(time.Minute).Unix())),
		"a crit header":                         withHeader("crit", []string{"exp"}),
		"an empty crit header":                  withHeader("crit", []string{}),
		"a name over 200 characters":            sign(t, jwt.SigningMethodHS256, Secret, with("name", strings.Repeat("n", 201))),
		"garbage":                               "eyJhbGciOi.garbage.garbage",
	}
	for what, tok := range cases {
		expectUnauthenticated(t, what, e.Post(tok, `{ me { id } }`, nil))
	}
	// Ben was never changed by any of them.
	var me struct{ Me struct{ Name, Role string } }
	w.Ben.MustDo(`{ me { name role } }`, nil, &me)
	if me.Me.Name != "Ben Baker" || me.Me.Role != "AGENT" {
		t.Fatalf("after refused tokens ben is %+v", me.Me)
	}
}

func testTokenLeeway(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	e.NewWorkspace("ws")
	tok := e.Token("ws", "ben", "agent", "Ben Baker") // valid for TokenTTL
	e.Clock.Advance(TokenTTL + 29*time.Second)
	if r := e.Post(tok, `{ me { id } }`, nil); r.Status != http.StatusOK || r.Code() != "" {
		t.Fatalf("a token expired 29 s ago: HTTP %d %s; want accepted", r.Status, r.Raw)
	}
	e.Clock.Advance(2 * time.Second)
	expectUnauthenticated(t, "a token expired 31 s ago", e.Post(tok, `{ me { id } }`, nil))
}

func testIssuerAudience(t *testing.T, f Factory) {
	e := NewEnv(t, f, WithTokenChecks("issuer-one", "switchboard-api"))
	claims := func(iss, aud any) jwt.MapClaims {
		c := e.claims("ws", "ben", "agent")
		if iss != nil {
			c["iss"] = iss
		}
		if aud != nil {
			c["aud"] = aud
		}
		return c
	}
	ok := sign(t, jwt.SigningMethodHS256, Secret, claims("issuer-one", "switchboard-api"))
	if r := e.Post(ok, `{ me { id } }`, nil); r.Status != http.StatusOK || string(r.Data) != `{"me":{"id":"ben"}}` {
		t.Fatalf("the right issuer and audience: HTTP %d %s", r.Status, r.Raw)
	}
	okList := sign(t, jwt.SigningMethodHS256, Secret, claims("issuer-one", []string{"other", "switchboard-api"}))
	if r := e.Post(okList, `{ me { id } }`, nil); r.Status != http.StatusOK {
		t.Fatalf("an audience list with ours: HTTP %d %s", r.Status, r.Raw)
	}
	for what, c := range map[string]jwt.MapClaims{
		"a wrong issuer":   claims("issuer-two", "switchboard-api"),
		"no issuer":        claims(nil, "switchboard-api"),
		"a wrong audience": claims("issuer-one", "another-api"),
		"no audience":      claims("issuer-one", nil),
	} {
		expectUnauthenticated(t, what, e.Post(sign(t, jwt.SigningMethodHS256, Secret, c), `{ me { id } }`, nil))
	}
	expectUnauthenticated(t, "a token without issuer and audience", e.Post(e.Token("ws", "ben", "agent", "Ben"), `{ me { id } }`, nil))
}

const (
	schemaQuery   = `{ __schema { queryType { name } } }`
	typeQuery     = `{ __type(name: "Conversation") { name } }`
	fragmentQuery = `query { ...I } fragment I on Query { __schema { types { name } } }`
	inlineQuery   = `{ ... on Query { __type(name: "Agent") { fields { name } } } }`
	typo          = `{ mee { id } }`
)

// typos are documents whose validation errors could suggest names of the
// schema other than fields of a type.
var typos = []string{
	`{ queue(statuss: NEW) { totalCount } }`,
	`{ queue(status: NEWW) { totalCount } }`,
	`mutation { setOwner(input: {conversationId: "x", ownerID: null}) { conversation { id } } }`,
	`{ me { ...F } } fragment F on Agen { id }`,
	`{ me { ... on Agen { id } } }`,
	`{ me { namee } }`,
}

// checkIntrospection checks whether c may introspect and gets suggestions.
func checkIntrospection(t *testing.T, who string, c *Client, allowed bool) {
	t.Helper()
	for _, doc := range []string{schemaQuery, typeQuery, fragmentQuery, inlineQuery} {
		r := c.Do(doc, nil)
		if allowed {
			if r.Status != http.StatusOK || len(r.Errors) > 0 || !strings.Contains(string(r.Data), `"name"`) {
				t.Errorf("%s: introspection %s refused: HTTP %d %s", who, doc, r.Status, r.Raw)
			}
			continue
		}
		if r.Code() != "GRAPHQL_VALIDATION_FAILED" || strings.Contains(string(r.Raw), "Conversation\"") {
			t.Errorf("%s: introspection %s: want GRAPHQL_VALIDATION_FAILED, got HTTP %d %s", who, doc, r.Status, r.Raw)
		}
		expectNoData(t, who+" introspection", r)
	}
	r := c.Do(typo, nil)
	if r.Code() != "GRAPHQL_VALIDATION_FAILED" {
		t.Errorf("%s: a typo: want GRAPHQL_VALIDATION_FAILED, got %s", who, r.Raw)
	}
	if suggests := strings.Contains(string(r.Raw), "Did you mean"); suggests != allowed {
		t.Errorf("%s: suggestions %v; want %v: %s", who, suggests, allowed, r.Raw)
	}
	// Every other suggestion names the schema too: arguments, input fields,
	// enum values, types.
	for _, doc := range typos {
		r := c.Do(doc, nil)
		if r.Code() != "GRAPHQL_VALIDATION_FAILED" {
			t.Errorf("%s: %s: want GRAPHQL_VALIDATION_FAILED, got %s", who, doc, r.Raw)
		}
		if !allowed && strings.Contains(string(r.Raw), "Did you mean") {
			t.Errorf("%s may not introspect but gets a suggestion for %s: %s", who, doc, r.Raw)
		}
	}
	// __typename is not introspection: everyone may ask.
	if r := c.Do(`{ __typename }`, nil); string(r.Data) != `{"__typename":"Query"}` {
		t.Errorf("%s: __typename: %s", who, r.Raw)
	}
}

func testIntrospectionAdmins(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	checkIntrospection(t, "admin", w.Admin, true)
	checkIntrospection(t, "agent", w.Ben, false)
	checkIntrospection(t, "integration", w.Integration, false)
	expectUnauthenticated(t, "introspection without token", e.Post("", schemaQuery, nil))
	// Explicitly set to admins: the same.
	e2 := NewEnv(t, f, WithIntrospection(server.IntrospectionAdmins))
	w2 := e2.NewWorkspace("ws")
	checkIntrospection(t, "admin", w2.Admin, true)
	checkIntrospection(t, "agent", w2.Ben, false)
}

func testIntrospectionAll(t *testing.T, f Factory) {
	e := NewEnv(t, f, WithIntrospection(server.IntrospectionAll))
	w := e.NewWorkspace("ws")
	checkIntrospection(t, "admin", w.Admin, true)
	checkIntrospection(t, "agent", w.Ben, true)
	checkIntrospection(t, "integration", w.Integration, true)
	expectUnauthenticated(t, "introspection without token", e.Post("", schemaQuery, nil))
}

func testIntrospectionOff(t *testing.T, f Factory) {
	e := NewEnv(t, f, WithIntrospection(server.IntrospectionOff))
	w := e.NewWorkspace("ws")
	checkIntrospection(t, "admin", w.Admin, false)
	checkIntrospection(t, "agent", w.Ben, false)
	checkIntrospection(t, "integration", w.Integration, false)
}

func testErrorShape(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	id := w.NewConversation("maria")
	r := w.Ben.MustFailArg("BAD_USER_INPUT", "input.ownerId", MutationDoc("setOwner"), map[string]any{"in": map[string]any{"conversationId": id, "ownerId": "nobody"}})
	if r.Status != http.StatusOK || string(r.Data) != `null` && string(r.Data) != `{"setOwner":null}` {
		t.Errorf("a failed mutation: HTTP %d data %s; want 200 and no payload", r.Status, r.Data)
	}
	if len(r.Errors) != 1 || len(r.Errors[0].Path) != 1 || r.Errors[0].Path[0] != "setOwner" || r.Errors[0].Message == "" {
		t.Errorf("errors %s; want one error at path [setOwner] with a message", r.Raw)
	}
	assertNoLeak(t, r)
	// An error of execution is a 200 in either media type (GraphQL over
	// HTTP): the request itself was well-formed.
	for _, accept := range []string{mediaJSON, mediaResponse} {
		r := e.postAs(w.Ben.Token, accept, MutationDoc("setOwner"), map[string]any{"in": map[string]any{"conversationId": "cv_unknown", "ownerId": "ben"}})
		expectHTTP(t, "NOT_FOUND in "+accept, r, http.StatusOK, accept, "NOT_FOUND")
		if string(r.Data) != "null" {
			t.Errorf("NOT_FOUND in %s: data %s; want null", accept, r.Data)
		}
	}
	// Null variables, operationName and extensions are as good as none.
	r = e.request(http.MethodPost, w.Ben.Token, "application/json", "", `{"query":"{ me { id } }","variables":null,"operationName":null,"extensions":null}`)
	expectHTTP(t, "null members", r, http.StatusOK, mediaJSON, "")
	// Two fields, one fails: the other is still answered, and the failed
	// one is null up to the nearest nullable field.
	r = w.Ben.Do(`query($id: ID!) { me { id } conversation(id: $id) { id messages(first: 101) { edges { cursor } } } }`, map[string]any{"id": id})
	if r.Code() != "BAD_USER_INPUT" || r.Argument() != "first" || string(r.Data) != `{"me":{"id":"ben"},"conversation":null}` {
		t.Errorf("a partial failure: %s; want me answered, conversation null, BAD_USER_INPUT first", r.Raw)
	}
	if len(r.Errors) != 1 || len(r.Errors[0].Path) != 2 || r.Errors[0].Path[1] != "messages" {
		t.Errorf("a partial failure: errors %s; want one at path [conversation messages]", r.Raw)
	}
}

// playgroundIntrospection is the introspection query of graphql-js 16
// (getIntrospectionQuery), which GraphiQL-based playgrounds send.
const playgroundIntrospection = `    query IntrospectionQuery {
      __schema {
        queryType { name }
        mutationType { name }
        subscriptionType { name }
        types {
          ...FullType
        }
        directives {
          name
          description
          locations
          args {
            ...InputValue
          }
        }
      }
    }

    fragment FullType on __Type {
      kind
      name
      description
      fields(includeDeprecated: true) {
        name
        description
        args {
          ...InputValue
        }
        type {
          ...TypeRef
        }
        isDeprecated
        deprecationReason
      }
      inputFields {
        ...InputValue
      }
      interfaces {
        ...TypeRef
      }
      enumValues(includeDeprecated: true) {
        name
        description
        isDeprecated
        deprecationReason
      }
      possibleTypes {
        ...TypeRef
      }
    }

    fragment InputValue on __InputValue {
      name
      description
      type { ...TypeRef }
      defaultValue
    }

    fragment TypeRef on __Type {
      kind
      name
      ofType {
        kind
        name
        ofType {
          kind
          name
          ofType {
            kind
            name
            ofType {
              kind
              name
              ofType {
                kind
                name
                ofType {
                  kind
                  name
                  ofType {
                    kind
                    name
                  }
                }
              }
            }
          }
        }
      }
    }`

func testPlaygroundIntrospection(t *testing.T, f Factory) {
	e := NewEnv(t, f)
	w := e.NewWorkspace("ws")
	var out struct {
		Schema struct {
			QueryType struct{ Name string }
			Types     []struct{ Name string }
		} `json:"__schema"`
	}
	r := w.Admin.Do(playgroundIntrospection, nil)
	if r.Status != http.StatusOK || len(r.Errors) > 0 {
		t.Fatalf("an admin's playground introspection query is refused: HTTP %d %s", r.Status, r.Raw)
	}
	if err := json.Unmarshal(r.Data, &out); err != nil {
		t.Fatalf("decoding %s: %v", r.Data, err)
	}
	if out.Schema.QueryType.Name != "Query" || len(out.Schema.Types) < 20 {
		t.Fatalf("introspection: query type %q, %d types", out.Schema.QueryType.Name, len(out.Schema.Types))
	}
	found := false
	for _, ty := range out.Schema.Types {
		found = found || ty.Name == "Conversation"
	}
	if !found {
		t.Fatal("introspection lacks Conversation")
	}
	// And an agent may not, in any shape.
	if r := w.Ben.Do(playgroundIntrospection, nil); r.Code() != "GRAPHQL_VALIDATION_FAILED" {
		t.Fatalf("an agent's introspection: %s", r.Raw)
	}
}
