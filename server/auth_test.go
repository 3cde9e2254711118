package server

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"switchboard/domain"
)

var now = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func clock() time.Time { return now }

func claims(exp time.Time) jwt.MapClaims {
	return jwt.MapClaims{"sub": "ben", "workspace_id": "ws", "role": "agent", "name": "Ben", "email": "ben@example.com", "exp": exp.Unix()}
}

func writePEM(t *testing.T, pub crypto.PublicKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func sign(t *testing.T, m jwt.SigningMethod, key any, c jwt.Claims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, c).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPublicKeyVerifiersAcceptOnlyTheirAlgorithm(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	edPub, edKey, _ := ed25519.GenerateKey(rand.Reader)
	secret := []byte(strings.Repeat("s", 32))
	tokens := map[string]string{
		"RS256": sign(t, jwt.SigningMethodRS256, rsaKey, claims(now.Add(time.Hour))),
		"ES256": sign(t, jwt.SigningMethodES256, ecKey, claims(now.Add(time.Hour))),
		"EdDSA": sign(t, jwt.SigningMethodEdDSA, edKey, claims(now.Add(time.Hour))),
		"HS256": sign(t, jwt.SigningMethodHS256, secret, claims(now.Add(time.Hour))),
	}
	verifiers := map[string]KeyConfig{
		"RS256": {PublicKeyFile: writePEM(t, &rsaKey.PublicKey)},
		"ES256": {PublicKeyFile: writePEM(t, &ecKey.PublicKey)},
		"EdDSA": {PublicKeyFile: writePEM(t, edPub)},
		"HS256": {Secret: secret},
	}
	for vAlg, cfg := range verifiers {
		v, err := NewVerifier(cfg, clock)
		if err != nil {
			t.Fatalf("%s verifier: %v", vAlg, err)
		}
		for tAlg, tok := range tokens {
			c, err := v.Verify(tok)
			if tAlg == vAlg {
				if err != nil || c.Subject != "ben" || c.WorkspaceID != "ws" || c.Role != "agent" || c.Email != "ben@example.com" {
					t.Errorf("%s verifier refused its own token: %+v %v", vAlg, c, err)
				}
			} else if domain.ErrorCode(err) != domain.CodeUnauthenticated {
				t.Errorf("%s verifier accepted a %s token", vAlg, tAlg)
			}
		}
	}
}

func TestHS256VerifierRefusesBadTokens(t *testing.T) {
	secret := []byte(strings.Repeat("s", 32))
	v, err := NewVerifier(KeyConfig{Secret: secret, Issuer: "idp", Audience: "switchboard"}, clock)
	if err != nil {
		t.Fatal(err)
	}
	good := func(mod func(jwt.MapClaims)) jwt.MapClaims {
		c := claims(now.Add(time.Hour))
		c["iss"], c["aud"] = "idp", "switchboard"
		if mod != nil {
			mod(c)
		}
		return c
	}
	none := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, good(nil))
	tests := map[string]string{
		"alg none":                      none,
		"another secret":                sign(t, jwt.SigningMethodHS256, []byte(strings.Repeat("x", 32)), good(nil)),
		"HS512 with the right secret":   sign(t, jwt.SigningMethodHS512, secret, good(nil)),
		"no exp":                        sign(t, jwt.SigningMethodHS256, secret, good(func(c jwt.MapClaims) { delete(c, "exp") })),
		"expired beyond the leeway":     sign(t, jwt.SigningMethodHS256, secret, good(func(c jwt.MapClaims) { c["exp"] = now.Add(-31 * time.Second).Unix() })),
		"wrong issuer":                  sign(t, jwt.SigningMethodHS256, secret, good(func(c jwt.MapClaims) { c["iss"] = "other" })),
		"no issuer":                     sign(t, jwt.SigningMethodHS256, secret, good(func(c jwt.MapClaims) { delete(c, "iss") })),
		"wrong audience":                sign(t, jwt.SigningMethodHS256, secret, good(func(c jwt.MapClaims) { c["aud"] = "other" })),
		"not a JWT":                     "hello",
		"three dots of garbage":         "a.b.c",
		"empty":                         "",
		"oversized":                     strings.Repeat("a", MaxTokenBytes+1),
		"not valid before a minute ago": sign(t, jwt.SigningMethodHS256, secret, good(func(c jwt.MapClaims) { c["nbf"] = now.Add(time.Minute).Unix() })),
	}
	for name, tok := range tests {
		if _, err := v.Verify(tok); domain.ErrorCode(err) != domain.CodeUnauthenticated {
			t.Errorf("%s: err = %v, want UNAUTHENTICATED", name, err)
		} else if strings.Contains(err.Error(), string(secret)) {
			t.Errorf("%s: the error names the secret", name)
		}
	}
	within := sign(t, jwt.SigningMethodHS256, secret, good(func(c jwt.MapClaims) { c["exp"] = now.Add(-29 * time.Second).Unix() }))
	if _, err := v.Verify(within); err != nil {
		t.Errorf("a token expired 29 s ago is within the 30 s leeway: %v", err)
	}
}

func TestVerifierConfiguration(t *testing.T) {
	rsaSmall, _ := rsa.GenerateKey(rand.Reader, 1024)
	ecP384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	bad := filepath.Join(t.TempDir(), "bad.pem")
	os.WriteFile(bad, []byte("not a key"), 0o600)
	for name, cfg := range map[string]KeyConfig{
		"no key":             {},
		"a short secret":     {Secret: []byte("short")},
		"secret and key":     {Secret: []byte(strings.Repeat("s", 32)), PublicKeyFile: bad},
		"a missing key file": {PublicKeyFile: filepath.Join(t.TempDir(), "missing.pem")},
		"not a PEM key":      {PublicKeyFile: bad},
		"RSA under 2048":     {PublicKeyFile: writePEM(t, &rsaSmall.PublicKey)},
		"EC not on P-256":    {PublicKeyFile: writePEM(t, &ecP384.PublicKey)},
	} {
		if _, err := NewVerifier(cfg, clock); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestMintedTokensVerify(t *testing.T) {
	secret := []byte(strings.Repeat("s", 32))
	tok, err := MintHS256(secret, TokenRequest{Subject: "ada", WorkspaceID: "ws", Role: "admin", Name: "Ada", Issuer: "idp", Audience: "sb", TTL: time.Minute}, now)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := NewVerifier(KeyConfig{Secret: secret, Issuer: "idp", Audience: "sb"}, clock)
	if c, err := v.Verify(tok); err != nil || c.Subject != "ada" || c.Role != "admin" {
		t.Fatalf("%+v %v", c, err)
	}
}

func TestBearerToken(t *testing.T) {
	for header, want := range map[string]string{
		"Bearer abc": "abc", "bearer abc": "abc", "  Bearer   abc ": "abc", "Basic abc": "", "abc": "", "": "",
	} {
		if got := BearerToken(header); got != want {
			t.Errorf("BearerToken(%q) = %q, want %q", header, got, want)
		}
	}
}

// testSecret signs the tokens of the strict-token tests and fuzz targets.
var testSecret = []byte(strings.Repeat("s", 32))

// signRaw signs a header and claims given as JSON text with HS256, so a test
// can send what jwt's encoder would never write (a string exp, a key twice).
func signRaw(secret []byte, header, claims string) string {
	text := base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + base64.RawURLEncoding.EncodeToString([]byte(claims))
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(text))
	return text + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

const hs256Header = `{"alg":"HS256","typ":"JWT"}`

// strictClaims are valid claims as JSON text with the members of extra
// replacing or adding to them; a nil value removes a member.
func strictClaims(t *testing.T, extra map[string]any) string {
	t.Helper()
	c := map[string]any{"sub": "ben", "workspace_id": "ws", "role": "agent", "name": "Ben", "email": "ben@example.com",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	for k, v := range extra {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestVerifierIsStrict(t *testing.T) {
	v, err := NewVerifier(KeyConfig{Secret: testSecret}, clock)
	if err != nil {
		t.Fatal(err)
	}
	const (
		roleWords = "role must be exactly agent, admin or integration"
		dateWords = "exp, iat and nbf must be JSON numbers"
		critWords = "crit header"
		iatWords  = "issued in the future"
		nbfWords  = "not valid yet"
		twice     = "names a claim twice"
	)
	exp := now.Add(time.Hour).Unix()
	future := func(d time.Duration) int64 { return now.Add(d).Unix() }
	refused := []struct {
		name, header, claims, want string
	}{
		{"role ADMIN", hs256Header, strictClaims(t, map[string]any{"role": "ADMIN"}), roleWords},
		{"role Admin", hs256Header, strictClaims(t, map[string]any{"role": "Admin"}), roleWords},
		{"role ADMİN (Turkish dotted capital I)", hs256Header, strictClaims(t, map[string]any{"role": "ADMİN"}), roleWords},
		{"role admın (dotless i)", hs256Header, strictClaims(t, map[string]any{"role": "admın"}), roleWords},
		{"role Agent", hs256Header, strictClaims(t, map[string]any{"role": "Agent"}), roleWords},
		{"role INTEGRATION", hs256Header, strictClaims(t, map[string]any{"role": "INTEGRATION"}), roleWords},
		{"role with a space", hs256Header, strictClaims(t, map[string]any{"role": "admin "}), roleWords},
		{"role with a NUL", hs256Header, strictClaims(t, map[string]any{"role": "admin\x00"}), roleWords},
		{"no role", hs256Header, strictClaims(t, map[string]any{"role": nil}), roleWords},
		{"role superuser", hs256Header, strictClaims(t, map[string]any{"role": "superuser"}), roleWords},
		{"exp a numeric string", hs256Header, strictClaims(t, map[string]any{"exp": "9999999999"}), dateWords},
		{"exp true", hs256Header, strictClaims(t, map[string]any{"exp": true}), dateWords},
		{"exp an object", hs256Header, strictClaims(t, map[string]any{"exp": map[string]any{"n": exp}}), dateWords},
		{"exp a list", hs256Header, strictClaims(t, map[string]any{"exp": []any{exp}}), dateWords},
		{"exp negative", hs256Header, strictClaims(t, map[string]any{"exp": -1}), dateWords},
		{"exp 1e30 (would overflow to a far future)", hs256Header, strings.Replace(strictClaims(t, nil), `"exp":`+strconv.FormatInt(exp, 10), `"exp":1e30`, 1), dateWords},
		{"exp null", hs256Header, strings.Replace(strictClaims(t, nil), `"exp":`+strconv.FormatInt(exp, 10), `"exp":null`, 1), dateWords},
		{"iat a numeric string", hs256Header, strictClaims(t, map[string]any{"iat": strconv.FormatInt(now.Unix(), 10)}), dateWords},
		{"nbf a numeric string", hs256Header, strictClaims(t, map[string]any{"nbf": strconv.FormatInt(now.Unix(), 10)}), dateWords},
		{"nbf false", hs256Header, strictClaims(t, map[string]any{"nbf": false}), dateWords},
		{"a string exp before a numeric one", hs256Header, `{"sub":"ben","workspace_id":"ws","role":"agent","exp":"9999999999","exp":` + strconv.FormatInt(exp, 10) + `}`, twice},
		{"role twice", hs256Header, `{"sub":"ben","workspace_id":"ws","role":"agent","role":"admin","exp":` + strconv.FormatInt(exp, 10) + `}`, twice},
		{"role twice, escaped", hs256Header, `{"sub":"ben","workspace_id":"ws","role":"agent","\u0072ole":"admin","exp":` + strconv.FormatInt(exp, 10) + `}`, twice},
		{"EXP, not exp", hs256Header, strictClaims(t, map[string]any{"exp": nil, "EXP": exp}), "no expiry"},
		{"Exp, a numeric string, not exp", hs256Header, strictClaims(t, map[string]any{"exp": nil, "Exp": "9999999999"}), "no expiry"},
		{"eXp, not exp", hs256Header, strictClaims(t, map[string]any{"exp": nil, "eXp": exp}), "no expiry"},
		{"ROLE, not role", hs256Header, strictClaims(t, map[string]any{"role": nil, "ROLE": "admin"}), roleWords},
		{"sub a number", hs256Header, strictClaims(t, map[string]any{"sub": 7}), "wrong type"},
		{"role a list", hs256Header, strictClaims(t, map[string]any{"role": []string{"admin"}}), "wrong type"},
		{"aud a list with a number", hs256Header, strictClaims(t, map[string]any{"aud": []any{"x", 1}}), "wrong type"},
		{"claims a list", hs256Header, `[{"exp":` + strconv.FormatInt(exp, 10) + `}]`, "wrong type"},
		{"iat 31 s ahead", hs256Header, strictClaims(t, map[string]any{"iat": future(31 * time.Second)}), iatWords},
		{"iat a day ahead", hs256Header, strictClaims(t, map[string]any{"iat": future(24 * time.Hour)}), iatWords},
		{"nbf 31 s ahead", hs256Header, strictClaims(t, map[string]any{"nbf": future(31 * time.Second)}), nbfWords},
		{"crit naming an extension", `{"alg":"HS256","typ":"JWT","crit":["exp"],"exp":1}`, strictClaims(t, nil), critWords},
		{"crit naming an unknown extension", `{"alg":"HS256","crit":["urn:example:x"],"urn:example:x":true}`, strictClaims(t, nil), critWords},
		{"crit empty", `{"alg":"HS256","crit":[]}`, strictClaims(t, nil), critWords},
		{"crit null", `{"alg":"HS256","crit":null}`, strictClaims(t, nil), critWords},
		{"crit a string", `{"alg":"HS256","crit":"b64"}`, strictClaims(t, nil), critWords},
		{"crit with b64 false", `{"alg":"HS256","b64":false,"crit":["b64"]}`, strictClaims(t, nil), critWords},
	}
	for _, tc := range refused {
		c, expiry, err := v.VerifyExpiry(signRaw(testSecret, tc.header, tc.claims))
		switch {
		case domain.ErrorCode(err) != domain.CodeUnauthenticated:
			t.Errorf("%s: accepted (%+v, until %v) or not UNAUTHENTICATED: %v", tc.name, c, expiry, err)
		case !strings.Contains(err.Error(), tc.want):
			t.Errorf("%s: %q; want a reason with %q", tc.name, err, tc.want)
		case strings.Contains(err.Error(), string(testSecret)):
			t.Errorf("%s: the reason names the secret: %q", tc.name, err)
		}
	}
	accepted := []struct {
		name, claims string
	}{
		{"role agent", strictClaims(t, nil)},
		{"role admin", strictClaims(t, map[string]any{"role": "admin"})},
		{"role integration", strictClaims(t, map[string]any{"role": "integration"})},
		{"no iat", strictClaims(t, map[string]any{"iat": nil})},
		{"iat 29 s ahead (leeway)", strictClaims(t, map[string]any{"iat": future(29 * time.Second)})},
		{"iat 30 s ahead (leeway)", strictClaims(t, map[string]any{"iat": future(30 * time.Second)})},
		{"nbf 29 s ahead (leeway)", strictClaims(t, map[string]any{"nbf": future(29 * time.Second)})},
		{"nbf and iat past", strictClaims(t, map[string]any{"nbf": future(-time.Hour), "iat": future(-time.Hour)})},
		{"exp with a fraction", strictClaims(t, map[string]any{"exp": float64(exp) + 0.5})},
		{"exp in exponent notation", strings.Replace(strictClaims(t, nil), `"exp":`+strconv.FormatInt(exp, 10), `"exp":`+strconv.FormatFloat(float64(exp), 'e', -1, 64), 1)},
		{"exp at the end of year 9999", strictClaims(t, map[string]any{"exp": int64(maxNumericDate)})},
		{"ROLE after role is another claim", strings.Replace(strictClaims(t, nil), `"role":"agent"`, `"role":"agent","ROLE":"admin"`, 1)},
		{"null name and email", strictClaims(t, map[string]any{"name": json.RawMessage("null"), "email": json.RawMessage("null")})},
		{"an unknown claim nested deep", strictClaims(t, map[string]any{"x": map[string]any{"y": []any{map[string]any{"z": 1}}}})},
	}
	for _, tc := range accepted {
		c, expiry, err := v.VerifyExpiry(signRaw(testSecret, hs256Header, tc.claims))
		if err != nil {
			t.Errorf("%s: refused: %v", tc.name, err)
			continue
		}
		want := "agent"
		if strings.HasPrefix(tc.name, "role ") {
			want = strings.TrimPrefix(tc.name, "role ")
		}
		if c.Role != want || c.Subject != "ben" || !expiry.After(now) {
			t.Errorf("%s: claims %+v until %v", tc.name, c, expiry)
		}
	}
}

// TestVerifierRoleMatchesDomain: the verifier and the domain agree on
// which role claims exist, so no token passes one and fails the other.
func TestVerifierRoleMatchesDomain(t *testing.T) {
	v, _ := NewVerifier(KeyConfig{Secret: testSecret}, clock)
	for _, role := range []string{"agent", "admin", "integration", "AGENT", "Admin", "ADMİN", "", "agent\n"} {
		_, verr := v.Verify(signRaw(testSecret, hs256Header, strictClaims(t, map[string]any{"role": role})))
		_, ok := domain.RoleFromClaim(role)
		if (verr == nil) != ok {
			t.Errorf("role %q: verifier error %v, domain accepts %v", role, verr, ok)
		}
	}
}

// A token verified once is remembered, but its times are checked at every
// use: past its exp (and the leeway) it is refused as a fresh verifier
// refuses it, and one not yet valid is accepted once its nbf has come.
func TestVerifiedTokensKeepCheckingTimes(t *testing.T) {
	secret := []byte(strings.Repeat("s", 32))
	at := now
	cfg := KeyConfig{Secret: secret, Issuer: "idp"}
	v, err := NewVerifier(cfg, func() time.Time { return at })
	if err != nil {
		t.Fatal(err)
	}
	c := claims(now.Add(time.Minute))
	c["iss"], c["nbf"] = "idp", now.Add(-time.Minute).Unix()
	tok := sign(t, jwt.SigningMethodHS256, secret, c)
	want, exp, err := v.VerifyExpiry(tok)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		got, gotExp, err := v.VerifyExpiry(tok)
		if err != nil || got != want || !gotExp.Equal(exp) {
			t.Fatalf("again: %+v %v %v, want %+v %v", got, gotExp, err, want, exp)
		}
	}
	if len(v.verified.m) != 1 {
		t.Fatalf("%d tokens remembered, want 1", len(v.verified.m))
	}
	at = now.Add(time.Minute + TokenLeeway + time.Second)
	_, _, err = v.VerifyExpiry(tok)
	fresh, _ := NewVerifier(cfg, func() time.Time { return at })
	_, _, freshErr := fresh.VerifyExpiry(tok)
	if domain.ErrorCode(err) != domain.CodeUnauthenticated || freshErr == nil || err.Error() != freshErr.Error() {
		t.Fatalf("expired: %v, want the fresh verifier's %v", err, freshErr)
	}

	// Not valid before a minute from now: refused, then accepted when due.
	at = now
	c = claims(now.Add(time.Hour))
	c["iss"], c["nbf"] = "idp", now.Add(time.Minute).Unix()
	later := sign(t, jwt.SigningMethodHS256, secret, c)
	if _, err := v.Verify(later); err == nil {
		t.Fatal("a token valid from a minute on was accepted now")
	}
	at = now.Add(time.Minute)
	if _, err := v.Verify(later); err != nil {
		t.Fatal(err)
	}
	at = now.Add(-time.Minute)
	if _, err := v.Verify(later); err == nil {
		t.Fatal("a remembered token was accepted before its nbf")
	}
}

// The tokens remembered are bounded.
func TestVerifiedTokensAreBounded(t *testing.T) {
	v, err := NewVerifier(KeyConfig{Secret: testSecret}, clock)
	if err != nil {
		t.Fatal(err)
	}
	for i := range maxVerifiedTokens + 10 {
		c := claims(now.Add(time.Hour))
		c["sub"] = "agent-" + strconv.Itoa(i)
		if _, err := v.Verify(sign(t, jwt.SigningMethodHS256, testSecret, c)); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(v.verified.m); n != maxVerifiedTokens {
		t.Fatalf("%d tokens remembered, want %d", n, maxVerifiedTokens)
	}
}
