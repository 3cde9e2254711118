package server

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
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
