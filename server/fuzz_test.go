package server

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"switchboard/domain"
)

// The fuzz targets check the strict readers against plain readings of the
// same input: encoding/json's, which keeps the last of two keys, plus
// counts and rules written out separately here. Their seed corpora are in
// testdata/fuzz/<target>/, with the hostile inputs the readers were made for.

// plainJSON is what encoding/json makes of a JSON text, with what the strict
// reader would refuse counted separately.
type plainJSON struct {
	value any
	valid bool
	// duplicates: some object has a key twice (after unescaping).
	duplicates bool
	// depth is the deepest nesting of arrays and objects; 0 for a scalar.
	depth int
}

func readPlainJSON(data []byte) plainJSON {
	if !json.Valid(data) {
		return plainJSON{}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		// Valid, but nested over encoding/json's own limit of 10,000.
		return plainJSON{valid: true, depth: math.MaxInt}
	}
	// A key given twice is overwritten in the decoded value: it has fewer
	// members than the text has keys.
	return plainJSON{value: v, valid: true, duplicates: keysInText(data) != membersIn(v), depth: depthOf(v)}
}

// keysInText counts the object keys of a valid JSON text.
func keysInText(data []byte) int {
	type frame struct{ object, atKey bool }
	var open []frame
	dec := json.NewDecoder(bytes.NewReader(data))
	// Numbers stay text: 1e400 is valid JSON but no float64.
	dec.UseNumber()
	keys := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return keys
		}
		if tok == json.Delim('}') || tok == json.Delim(']') {
			open = open[:len(open)-1]
			continue
		}
		if n := len(open); n > 0 && open[n-1].object {
			if open[n-1].atKey {
				keys++
				open[n-1].atKey = false
				continue
			}
			// This value starts; once it ends, a key or the end follows.
			open[n-1].atKey = true
		}
		switch tok {
		case json.Delim('{'):
			open = append(open, frame{object: true, atKey: true})
		case json.Delim('['):
			open = append(open, frame{})
		}
	}
}

func membersIn(v any) int {
	switch v := v.(type) {
	case map[string]any:
		n := len(v)
		for _, m := range v {
			n += membersIn(m)
		}
		return n
	case []any:
		n := 0
		for _, m := range v {
			n += membersIn(m)
		}
		return n
	}
	return 0
}

func depthOf(v any) int {
	deepest := 0
	switch v := v.(type) {
	case map[string]any:
		for _, m := range v {
			deepest = max(deepest, depthOf(m))
		}
	case []any:
		for _, m := range v {
			deepest = max(deepest, depthOf(m))
		}
	default:
		return 0
	}
	return deepest + 1
}

func FuzzDecodeRequestBody(f *testing.F) {
	f.Add([]byte(`{"query":"{ me { id } }"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		// Linear time is checked on 1 MiB bodies in
		// TestDecodeRequestBodyHostileSizes; here, no input may stall.
		start := time.Now()
		got, err := decodeRequestBody(body)
		if d := time.Since(start); d > time.Second {
			t.Fatalf("decoding %d bytes took %v", len(body), d)
		}
		plain := readPlainJSON(body)
		members, isObject := plain.value.(map[string]any)
		query, _ := members["query"].(string)
		documentID, _ := members["documentId"].(string)
		ext, _ := members["extensions"].(map[string]any)
		named := query != "" || documentID != "" || ext["persistedQuery"] != nil
		want := plain.valid && isObject && !plain.duplicates && plain.depth <= MaxJSONDepth && named &&
			isNullOr[string](members["operationName"]) && isNullOr[string](members["query"]) && isNullOr[string](members["documentId"]) &&
			isNullOr[map[string]any](members["variables"]) && isNullOr[map[string]any](members["extensions"])
		if err != nil {
			if want {
				t.Fatalf("refused a good body: %v", err)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "the request body") || len(msg) > 400 {
				t.Fatalf("refusal %q: want a short sentence about the request body", msg)
			}
			return
		}
		if !want {
			t.Fatalf("accepted a body with duplicates=%v depth=%d valid=%v: %+v", plain.duplicates, plain.depth, plain.valid, got)
		}
		if got.Query != query || got.DocumentID != documentID {
			t.Fatalf("query %q, documentId %q; want %q, %q", got.Query, got.DocumentID, query, documentID)
		}
		name, _ := members["operationName"].(string)
		vars, _ := members["variables"].(map[string]any)
		if got.OperationName != name || !reflect.DeepEqual(got.Variables, vars) || !reflect.DeepEqual(got.Extensions, ext) {
			t.Fatalf("decoded %+v; encoding/json reads %v", got, members)
		}
	})
}

// isNullOr reports whether v is absent, null, or a T.
func isNullOr[T any](v any) bool {
	if v == nil {
		return true
	}
	_, ok := v.(T)
	return ok
}

// fuzzNow is the clock of the token fuzz targets: a whole second, as the
// dates in tokens are.
var fuzzNow = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func fuzzVerifier(f *testing.F) *Verifier {
	v, err := NewVerifier(KeyConfig{Secret: testSecret}, func() time.Time { return fuzzNow })
	if err != nil {
		f.Fatal(err)
	}
	return v
}

// checkVerified checks a token the verifier judged; header and claims are
// its JSON texts when the test made it, nil for arbitrary strings.
func checkVerified(t *testing.T, v *Verifier, token string, header, claims []byte) {
	start := time.Now()
	c, expiry, err := v.VerifyExpiry(token)
	if d := time.Since(start); d > time.Second {
		t.Fatalf("verifying took %v", d)
	}
	if err != nil {
		if domain.ErrorCode(err) != domain.CodeUnauthenticated {
			t.Fatalf("refused with %v, not UNAUTHENTICATED", err)
		}
		if msg := err.Error(); len(msg) > 120 || !strings.Contains(msg, "token") || strings.Contains(msg, string(testSecret)) {
			t.Fatalf("refusal %q: want a short reason that names no secret", msg)
		}
		if header != nil && claims != nil && acceptableToken(header, claims) {
			t.Fatalf("refused a good token: %v\nheader %s\nclaims %s", err, header, claims)
		}
		return
	}
	if header == nil || claims == nil {
		// An arbitrary string with a valid HS256 signature of our secret:
		// take its parts apart and check them as if the test had made it.
		parts := strings.Split(token, ".")
		var err1, err2 error
		header, err1 = base64.RawURLEncoding.DecodeString(parts[0])
		claims, err2 = base64.RawURLEncoding.DecodeString(parts[1])
		if err1 != nil || err2 != nil {
			t.Fatalf("accepted a token whose parts do not decode")
		}
	}
	if !acceptableToken(header, claims) {
		t.Fatalf("accepted %+v until %v\nheader %s\nclaims %s", c, expiry, header, claims)
	}
	if _, ok := domain.RoleFromClaim(c.Role); !ok {
		t.Fatalf("accepted role %q", c.Role)
	}
	if !expiry.After(fuzzNow) {
		t.Fatalf("accepted a token that expired at %v", expiry)
	}
	var members map[string]any
	_ = json.Unmarshal(claims, &members)
	if c.Role != members["role"] || c.Subject != stringOr(members["sub"]) || c.WorkspaceID != stringOr(members["workspace_id"]) ||
		c.Name != stringOr(members["name"]) || c.Email != stringOr(members["email"]) {
		t.Fatalf("claims %+v; the token says %s", c, claims)
	}
}

func stringOr(v any) string {
	s, _ := v.(string)
	return s
}

// acceptableToken is the rule the verifier enforces, written out plainly
// for header and claims texts already signed with the right secret.
func acceptableToken(header, claims []byte) bool {
	h := readPlainJSON(header)
	hm, ok := h.value.(map[string]any)
	if !ok || hm["alg"] != "HS256" {
		return false
	}
	if _, crit := hm["crit"]; crit {
		return false
	}
	c := readPlainJSON(claims)
	cm, ok := c.value.(map[string]any)
	if !ok || c.duplicates || c.depth > MaxJSONDepth {
		return false
	}
	if r := cm["role"]; r != "agent" && r != "admin" && r != "integration" {
		return false
	}
	for _, name := range []string{"iss", "sub", "jti", "workspace_id", "name", "email"} {
		if !isNullOr[string](cm[name]) {
			return false
		}
	}
	switch aud := cm["aud"].(type) {
	case nil, string:
	case []any:
		for _, a := range aud {
			if _, ok := a.(string); !ok {
				return false
			}
		}
	default:
		return false
	}
	now := float64(fuzzNow.Unix())
	leeway := TokenLeeway.Seconds()
	seconds := func(name string) (float64, bool, bool) {
		v, present := cm[name]
		if !present {
			return 0, false, true
		}
		n, ok := v.(json.Number)
		if !ok {
			return 0, true, false
		}
		f, err := n.Float64()
		if err != nil || f < 0 || f > maxNumericDate {
			return 0, true, false
		}
		// Dates count in whole seconds.
		return math.Floor(f), true, true
	}
	exp, present, ok := seconds("exp")
	if !present || !ok || !(now < exp+leeway) {
		return false
	}
	if iat, present, ok := seconds("iat"); !ok || present && iat-leeway > now {
		return false
	}
	if nbf, present, ok := seconds("nbf"); !ok || present && nbf-leeway > now {
		return false
	}
	return true
}

// FuzzVerifyToken: arbitrary bearer strings. Nearly all are refused; the
// point is that none panics, none takes long, and each refusal is a short
// UNAUTHENTICATED reason.
func FuzzVerifyToken(f *testing.F) {
	f.Add(signRaw(testSecret, hs256Header, `{"sub":"ben","workspace_id":"ws","role":"agent","exp":1772445600}`))
	v := fuzzVerifier(f)
	f.Fuzz(func(t *testing.T, token string) {
		checkVerified(t, v, token, nil, nil)
	})
}

// FuzzVerifySignedToken: arbitrary header and claims texts, signed with the
// verifier's secret, so the claim rules are what decides.
func FuzzVerifySignedToken(f *testing.F) {
	f.Add([]byte(hs256Header), []byte(`{"sub":"ben","workspace_id":"ws","role":"agent","exp":1772445600}`))
	v := fuzzVerifier(f)
	f.Fuzz(func(t *testing.T, header, claims []byte) {
		checkVerified(t, v, signRaw(testSecret, string(header), string(claims)), header, claims)
	})
}
