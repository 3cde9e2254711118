package server_test

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

	"switchboard/internal/fakeclock"
	"switchboard/internal/testserver"
	"switchboard/server"
)

// Bearer tokens over HTTP: what is refused, and how.

// craftedClaims are a token's claims, valid for an hour from now.
func craftedClaims(ws, sub, role string, now time.Time) jwt.MapClaims {
	return jwt.MapClaims{
		"sub": sub, "workspace_id": ws, "role": role, "name": "Crafted " + sub, "email": sub + "@example.com",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
}

func signClaims(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// expectUnauthenticated checks a refused token's answer.
func expectUnauthenticated(t *testing.T, what string, a answer) {
	t.Helper()
	if a.Status != http.StatusUnauthorized || a.code() != "UNAUTHENTICATED" {
		t.Errorf("%s: HTTP %d code %q; want 401 UNAUTHENTICATED: %s", what, a.Status, a.code(), a.raw)
	}
	if h := a.Header.Get("WWW-Authenticate"); !strings.HasPrefix(h, "Bearer") {
		t.Errorf("%s: WWW-Authenticate %q; want a Bearer challenge", what, h)
	}
	expectNoData(t, what, a)
	assertNoLeak(t, a)
}

func TestAMissingOrMalformedAuthorizationHeaderIs401(t *testing.T) {
	srv := testserver.Start(t, secret)
	w := newWorkspace(t, srv)
	for _, header := range []string{"", "Bearer", "Bearer ", "Basic YmVuOnNlY3JldA==", w.ben, "Token " + w.ben, "Bearer not-a-jwt", "Bearer a.b.c"} {
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/graphql", strings.NewReader(`{"query":"{ me { id } }"}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if header != "" {
			req.Header.Set("Authorization", header)
		}
		expectUnauthenticated(t, "Authorization "+header, send(t, req, ""))
	}
	// A GET, and a mutation, are refused the same way.
	expectUnauthenticated(t, "GET without token", getParams(t, srv, "", "", url.Values{"query": {`{ me { id } }`}}))
	expectUnauthenticated(t, "mutation without token", post(t, srv, "", `mutation { logout { agent { id } } }`, nil))
	a := postAs(t, srv, "", mediaResponse, `{ me { id } }`, nil)
	expectUnauthenticated(t, "graphql-response+json without token", a)
	if ct := a.Header.Get("Content-Type"); !strings.HasPrefix(ct, mediaResponse) {
		t.Errorf("401 in %s; want %s", ct, mediaResponse)
	}
}

func TestRefusedTokensAre401(t *testing.T) {
	srv := testserver.Start(t, secret)
	w := newWorkspace(t, srv)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	good := func() jwt.MapClaims { return craftedClaims("ws", "ben", "agent", now) }
	with := func(k string, v any) jwt.MapClaims { c := good(); c[k] = v; return c }
	without := func(k string) jwt.MapClaims { c := good(); delete(c, k); return c }

	// The crafted claims are right: signed properly, they pass.
	if a := post(t, srv, signClaims(t, jwt.SigningMethodHS256, secret, good()), `{ me { id } }`, nil); a.Status != http.StatusOK || a.code() != "" {
		t.Fatalf("a properly signed crafted token is refused: HTTP %d %s", a.Status, a.raw)
	}

	valid := signClaims(t, jwt.SigningMethodHS256, secret, good())
	parts := strings.Split(valid, ".")
	adminPayload, _ := json.Marshal(with("role", "admin"))
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(adminPayload) + "." + parts[2]
	noneHeader := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	goodPayload, _ := json.Marshal(good())
	handNone := noneHeader + "." + base64.RawURLEncoding.EncodeToString(goodPayload) + "."

	withHeader := func(k string, v any) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, good())
		tok.Header[k] = v
		s, err := tok.SignedString(secret)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// rawClaims signs claims as written, with what jwt's encoder never
	// writes: a key twice.
	rawClaims := func(claims string) string {
		text := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(claims))
		sig, err := jwt.SigningMethodHS256.Sign(text, secret)
		if err != nil {
			t.Fatal(err)
		}
		return text + "." + base64.RawURLEncoding.EncodeToString(sig)
	}
	exp := strconv.FormatInt(now.Add(time.Hour).Unix(), 10)

	cases := map[string]string{
		"alg none":                              signClaims(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, good()),
		"alg none by hand":                      handNone,
		"alg none keeping the HS256 signature":  noneHeader + "." + parts[1] + "." + parts[2],
		"a wrong secret":                        signClaims(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-another"), good()),
		"HS512 with the right secret":           signClaims(t, jwt.SigningMethodHS512, secret, good()),
		"HS384 with the right secret":           signClaims(t, jwt.SigningMethodHS384, secret, good()),
		"RS256":                                 signClaims(t, jwt.SigningMethodRS256, rsaKey, good()),
		"a tampered payload":                    tampered,
		"no signature":                          parts[0] + "." + parts[1] + ".",
		"expired 31 s ago":                      signClaims(t, jwt.SigningMethodHS256, secret, with("exp", now.Add(-31*time.Second).Unix())),
		"expired a day ago":                     signClaims(t, jwt.SigningMethodHS256, secret, with("exp", now.Add(-24*time.Hour).Unix())),
		"without exp":                           signClaims(t, jwt.SigningMethodHS256, secret, without("exp")),
		"exp not a number":                      signClaims(t, jwt.SigningMethodHS256, secret, with("exp", "tomorrow")),
		"not valid for a minute":                signClaims(t, jwt.SigningMethodHS256, secret, with("nbf", now.Add(time.Minute).Unix())),
		"oversized":                             signClaims(t, jwt.SigningMethodHS256, secret, with("pad", strings.Repeat("x", 9000))),
		"without workspace_id":                  signClaims(t, jwt.SigningMethodHS256, secret, without("workspace_id")),
		"an empty workspace_id":                 signClaims(t, jwt.SigningMethodHS256, secret, with("workspace_id", "")),
		"without sub":                           signClaims(t, jwt.SigningMethodHS256, secret, without("sub")),
		"without role":                          signClaims(t, jwt.SigningMethodHS256, secret, without("role")),
		"an unknown role":                       signClaims(t, jwt.SigningMethodHS256, secret, with("role", "superuser")),
		"role AGENT":                            signClaims(t, jwt.SigningMethodHS256, secret, with("role", "AGENT")),
		"role Admin":                            signClaims(t, jwt.SigningMethodHS256, secret, with("role", "Admin")),
		"role ADMİN (Turkish dotted capital I)": signClaims(t, jwt.SigningMethodHS256, secret, with("role", "ADMİN")),
		"role twice":                            rawClaims(`{"sub":"ben","workspace_id":"ws","role":"agent","role":"admin","exp":` + exp + `}`),
		"exp a numeric string":                  signClaims(t, jwt.SigningMethodHS256, secret, with("exp", exp)),
		"iat a numeric string":                  signClaims(t, jwt.SigningMethodHS256, secret, with("iat", strconv.FormatInt(now.Unix(), 10))),
		"issued a minute ahead":                 signClaims(t, jwt.SigningMethodHS256, secret, with("iat", now.Add(time.Minute).Unix())),
		"a crit header":                         withHeader("crit", []string{"exp"}),
		"an empty crit header":                  withHeader("crit", []string{}),
		"a name over 200 characters":            signClaims(t, jwt.SigningMethodHS256, secret, with("name", strings.Repeat("n", 201))),
		"garbage":                               "eyJhbGciOi.garbage.garbage",
	}
	for what, tok := range cases {
		expectUnauthenticated(t, what, post(t, srv, tok, `{ me { id } }`, nil))
	}
	// Ben was never changed by any of them.
	var me struct{ Me struct{ Name, Role string } }
	mustDo(t, srv, w.ben, `{ me { name role } }`, nil, &me)
	if me.Me.Name != "Ben Baker" || me.Me.Role != "AGENT" {
		t.Fatalf("after refused tokens ben is %+v", me.Me)
	}
}

func TestATokenExpiredLessThan30SecondsAgoIsAccepted(t *testing.T) {
	// The verifier reads a clock the test moves; the rest of the server
	// keeps the real one, which the leeway does not concern.
	clock := fakeclock.New(time.Now())
	srv := testserver.StartWith(t, secret, func(c *server.Config) {
		v, err := server.NewVerifier(server.KeyConfig{Secret: secret}, clock.Now)
		if err != nil {
			t.Fatal(err)
		}
		c.Verifier = v
	})
	const ttl = time.Hour
	tok, err := server.MintHS256(secret, server.TokenRequest{
		Subject: "ben", WorkspaceID: "ws", Role: "agent", Name: "Ben Baker", Email: "ben@example.com", TTL: ttl,
	}, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(ttl + 29*time.Second)
	if a := post(t, srv, tok, `{ me { id } }`, nil); a.Status != http.StatusOK || a.code() != "" {
		t.Fatalf("a token expired 29 s ago: HTTP %d %s; want accepted", a.Status, a.raw)
	}
	clock.Advance(2 * time.Second)
	expectUnauthenticated(t, "a token expired 31 s ago", post(t, srv, tok, `{ me { id } }`, nil))
}

func TestIssuerAndAudienceAreCheckedWhenConfigured(t *testing.T) {
	srv := testserver.StartWith(t, secret, func(c *server.Config) {
		v, err := server.NewVerifier(server.KeyConfig{Secret: secret, Issuer: "issuer-one", Audience: "switchboard-api"}, time.Now)
		if err != nil {
			t.Fatal(err)
		}
		c.Verifier = v
	})
	claims := func(iss, aud any) jwt.MapClaims {
		c := craftedClaims("ws", "ben", "agent", time.Now())
		if iss != nil {
			c["iss"] = iss
		}
		if aud != nil {
			c["aud"] = aud
		}
		return c
	}
	ok := signClaims(t, jwt.SigningMethodHS256, secret, claims("issuer-one", "switchboard-api"))
	if a := post(t, srv, ok, `{ me { id } }`, nil); a.Status != http.StatusOK || string(a.Data) != `{"me":{"id":"ben"}}` {
		t.Fatalf("the right issuer and audience: HTTP %d %s", a.Status, a.raw)
	}
	okList := signClaims(t, jwt.SigningMethodHS256, secret, claims("issuer-one", []string{"other", "switchboard-api"}))
	if a := post(t, srv, okList, `{ me { id } }`, nil); a.Status != http.StatusOK {
		t.Fatalf("an audience list with ours: HTTP %d %s", a.Status, a.raw)
	}
	for what, c := range map[string]jwt.MapClaims{
		"a wrong issuer":   claims("issuer-two", "switchboard-api"),
		"no issuer":        claims(nil, "switchboard-api"),
		"a wrong audience": claims("issuer-one", "another-api"),
		"no audience":      claims("issuer-one", nil),
	} {
		expectUnauthenticated(t, what, post(t, srv, signClaims(t, jwt.SigningMethodHS256, secret, c), `{ me { id } }`, nil))
	}
	expectUnauthenticated(t, "a token without issuer and audience", post(t, srv, srv.Token(t, "ws", "ben", "agent", "Ben"), `{ me { id } }`, nil))
}
