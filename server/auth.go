package server

import (
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"switchboard/domain"
	"switchboard/internal/strictjson"
)

// Token limits.
const (
	// MaxTokenBytes bounds the bearer token: real tokens are far smaller, and
	// parsing a huge one is work for nothing.
	MaxTokenBytes = 8 << 10
	// TokenLeeway absorbs clock skew between the token issuer and us.
	TokenLeeway = 30 * time.Second
	// MinSecretBytes is the shortest HS256 secret accepted.
	MinSecretBytes = 32
)

// KeyConfig says how tokens are verified: an HS256 secret, or a public key
// (RS256, ES256 or EdDSA, decided by the key's type), plus optional issuer
// and audience that tokens must carry.
type KeyConfig struct {
	Secret        []byte
	PublicKeyFile string
	Issuer        string
	Audience      string
}

// Verifier checks bearer tokens. Its algorithm is pinned to the configured
// key, so a token signed with another algorithm ("none" included) or another
// key is refused.
type Verifier struct {
	key       any
	method    string
	parser    *jwt.Parser
	validator *jwt.Validator
	now       func() time.Time
	verified  verifiedTokens
}

// verifiedTokens remembers tokens whose signature and claims were checked,
// by their SHA-256, so that a client's next requests with the same token
// skip decoding it and checking its signature (most of the cost of a small
// request's authentication). Their times (exp, nbf, iat) are checked again
// at every use, and a token that fails that is verified afresh, so it is
// refused for the same reason as without the cache. It holds at most
// maxVerifiedTokens; past that, one is forgotten for each new one.
type verifiedTokens struct {
	mu sync.Mutex
	m  map[[sha256.Size]byte]*verifiedToken
}

// maxVerifiedTokens bounds verifiedTokens: more than the clients of one
// server that are busy at once.
const maxVerifiedTokens = 4096

type verifiedToken struct {
	claims tokenClaims
	out    domain.Claims
}

func (t *verifiedTokens) get(key [sha256.Size]byte) *verifiedToken {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.m[key]
}

func (t *verifiedTokens) put(key [sha256.Size]byte, v *verifiedToken) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = make(map[[sha256.Size]byte]*verifiedToken)
	}
	if len(t.m) >= maxVerifiedTokens {
		for k := range t.m {
			delete(t.m, k)
			break
		}
	}
	t.m[key] = v
}

func (t *verifiedTokens) forget(key [sha256.Size]byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m, key)
}

// NewVerifier builds a Verifier; now is the clock that `exp` is checked
// against.
func NewVerifier(cfg KeyConfig, now func() time.Time) (*Verifier, error) {
	v := &Verifier{now: now}
	switch {
	case len(cfg.Secret) > 0 && cfg.PublicKeyFile != "":
		return nil, errors.New("set either a JWT secret or a JWT public key file, not both")
	case len(cfg.Secret) > 0:
		if len(cfg.Secret) < MinSecretBytes {
			return nil, fmt.Errorf("the JWT secret must be at least %d bytes", MinSecretBytes)
		}
		v.key, v.method = cfg.Secret, jwt.SigningMethodHS256.Alg()
	case cfg.PublicKeyFile != "":
		pem, err := os.ReadFile(cfg.PublicKeyFile)
		if err != nil {
			return nil, fmt.Errorf("reading the JWT public key file: %w", err)
		}
		if v.key, v.method, err = parsePublicKey(pem); err != nil {
			return nil, err
		}
	default:
		return nil, errors.New("no JWT key is configured")
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{v.method}),
		jwt.WithLeeway(TokenLeeway),
		jwt.WithExpirationRequired(),
		// nbf is checked whenever present, iat only with this option; both
		// with the leeway. A token issued ahead of our clock beyond the
		// skew comes from a wrong clock or a forged lifetime.
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(now),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	v.parser = jwt.NewParser(opts...)
	v.validator = jwt.NewValidator(opts...)
	return v, nil
}

// parsePublicKey reads a PEM public key and returns it with the one algorithm
// it verifies.
func parsePublicKey(pem []byte) (any, string, error) {
	if k, err := jwt.ParseRSAPublicKeyFromPEM(pem); err == nil {
		if k.N.BitLen() < 2048 {
			return nil, "", errors.New("the RSA public key must have at least 2048 bits")
		}
		return k, jwt.SigningMethodRS256.Alg(), nil
	}
	if k, err := jwt.ParseECPublicKeyFromPEM(pem); err == nil {
		if k.Curve != elliptic.P256() {
			return nil, "", errors.New("the EC public key must be on P-256 (ES256)")
		}
		return k, jwt.SigningMethodES256.Alg(), nil
	}
	if k, err := jwt.ParseEdPublicKeyFromPEM(pem); err == nil {
		if _, ok := k.(ed25519.PublicKey); ok {
			return k, jwt.SigningMethodEdDSA.Alg(), nil
		}
	}
	return nil, "", errors.New("the JWT public key file holds no RSA, P-256 EC or Ed25519 public key in PEM")
}

// tokenClaims are the claims Switchboard reads.
type tokenClaims struct {
	jwt.RegisteredClaims
	WorkspaceID string `json:"workspace_id"`
	Role        string `json:"role"`
	Name        string `json:"name"`
	Email       string `json:"email"`
}

// maxNumericDate is the last second of the year 9999. jwt converts a date's
// float64 seconds to int64, and a value out of range converts differently on
// each platform: on amd64 an exp of 1e30 became the year 292277026596, a
// token that never expires. No real token lives past this bound, and every
// value under it converts exactly.
const maxNumericDate = 253402300799

// Reasons a token's claims are refused before their values are checked.
var (
	errDateNotNumber  = errors.New("exp, iat and nbf must be JSON numbers of seconds from 0 to the year 9999")
	errClaimTwice     = errors.New("a claim name appears twice")
	errClaimType      = errors.New("a claim has the wrong type")
	errCriticalHeader = errors.New("the token has a crit header")
)

// UnmarshalJSON decodes the claims strictly, each by its exact name.
// encoding/json's struct decoding matches names regardless of case (and
// Unicode folding): "ROLE" would fill the role and "EXP" the expiry, past a
// check of "exp". jwt's NumericDate also takes a string that holds a number
// ("9999999999"), which other verifiers read differently or refuse: RFC 7519
// §2 makes a NumericDate a JSON number, and RFC 8725 asks verifiers to refuse
// what they do not fully understand. A claim name given twice is refused, as
// RFC 7519 §4 allows, so no reader can take another of the two.
func (c *tokenClaims) UnmarshalJSON(b []byte) error {
	v, err := decodeStrictJSON(b)
	if err != nil {
		if p, ok := errors.AsType[*strictjson.Error](err); ok && p.Duplicate != "" {
			return errClaimTwice
		}
		return err
	}
	members, ok := v.(map[string]any)
	if !ok {
		return errClaimType
	}
	var out tokenClaims
	for name, field := range map[string]*string{
		"iss": &out.Issuer, "sub": &out.Subject, "jti": &out.ID,
		"workspace_id": &out.WorkspaceID, "role": &out.Role, "name": &out.Name, "email": &out.Email,
	} {
		switch s := members[name].(type) {
		case nil:
		case string:
			*field = s
		default:
			return errClaimType
		}
	}
	for name, date := range map[string]**jwt.NumericDate{"exp": &out.ExpiresAt, "iat": &out.IssuedAt, "nbf": &out.NotBefore} {
		if raw, present := members[name]; present {
			if *date, ok = numericDate(raw); !ok {
				return errDateNotNumber
			}
		}
	}
	switch aud := members["aud"].(type) {
	case nil:
	case string:
		out.Audience = jwt.ClaimStrings{aud}
	case []any:
		for _, a := range aud {
			s, ok := a.(string)
			if !ok {
				return errClaimType
			}
			out.Audience = append(out.Audience, s)
		}
	default:
		return errClaimType
	}
	*c = out
	return nil
}

// numericDate reads a decoded claim value that must be a JSON number of
// seconds in [0, maxNumericDate], as jwt would (truncated to its precision).
func numericDate(v any) (*jwt.NumericDate, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return nil, false
	}
	f, err := n.Float64()
	if err != nil || f < 0 || f > maxNumericDate {
		return nil, false
	}
	sec, frac := math.Modf(f)
	return jwt.NewNumericDate(time.Unix(int64(sec), int64(frac*1e9))), true
}

// Verify checks a token and returns its claims; every failure is
// UNAUTHENTICATED, with a reason that names no secret.
func (v *Verifier) Verify(token string) (domain.Claims, error) {
	c, _, err := v.VerifyExpiry(token)
	return c, err
}

// VerifyExpiry is Verify that also returns when the token stops being
// accepted (its exp plus the leeway): a socket is closed then.
func (v *Verifier) VerifyExpiry(token string) (domain.Claims, time.Time, error) {
	if token == "" {
		return domain.Claims{}, time.Time{}, domain.Unauthenticated("a bearer token is required")
	}
	if len(token) > MaxTokenBytes {
		return domain.Claims{}, time.Time{}, domain.Unauthenticated("the bearer token is too large")
	}
	key := sha256.Sum256([]byte(token))
	if known := v.verified.get(key); known != nil {
		// The same checks of the times, issuer and audience as parsing
		// makes, on the claims decoded then.
		if v.validator.Validate(&known.claims) == nil {
			return known.out, known.claims.ExpiresAt.Add(TokenLeeway), nil
		}
		v.verified.forget(key)
	}
	var c tokenClaims
	_, err := v.parser.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		// RFC 7515 §4.1.11: a recipient must refuse a token whose crit
		// names an extension it does not understand, and we understand
		// none; an empty or malformed crit is refused as well.
		if _, ok := t.Header["crit"]; ok {
			return nil, errCriticalHeader
		}
		return v.key, nil
	})
	if err != nil {
		return domain.Claims{}, time.Time{}, domain.Unauthenticated(tokenProblem(err))
	}
	if _, ok := domain.RoleFromClaim(c.Role); !ok {
		return domain.Claims{}, time.Time{}, domain.Unauthenticated(roleProblem)
	}
	claims := domain.Claims{WorkspaceID: c.WorkspaceID, Subject: c.Subject, Role: c.Role, Name: c.Name, Email: c.Email}
	v.verified.put(key, &verifiedToken{claims: c, out: claims})
	return claims, c.ExpiresAt.Add(TokenLeeway), nil
}

const roleProblem = "the bearer token's role must be exactly agent, admin or integration"

// tokenProblem says what is wrong with a token in a few words.
func tokenProblem(err error) string {
	switch {
	case errors.Is(err, errDateNotNumber):
		return "the bearer token's exp, iat and nbf must be JSON numbers of seconds up to the year 9999"
	case errors.Is(err, errClaimTwice):
		return "the bearer token names a claim twice"
	case errors.Is(err, errClaimType):
		return "the bearer token has a claim of the wrong type"
	case errors.Is(err, errCriticalHeader):
		return "the bearer token has a crit header; no extension is supported"
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "the bearer token is malformed"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing) && strings.Contains(err.Error(), "exp"):
		return "the bearer token has no expiry (exp)"
	case errors.Is(err, jwt.ErrTokenExpired):
		return "the bearer token has expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "the bearer token is not valid yet (nbf)"
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "the bearer token is issued in the future (iat)"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "the bearer token has the wrong issuer"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "the bearer token has the wrong audience"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return "the bearer token's signature or algorithm is not accepted"
	}
	return "the bearer token is not valid"
}

// BearerToken extracts the token of an Authorization header value.
func BearerToken(header string) string {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

// TokenRequest is what `switchboard token` mints.
type TokenRequest struct {
	Subject     string
	WorkspaceID string
	Role        string
	Name        string
	Email       string
	Issuer      string
	Audience    string
	TTL         time.Duration
}

// MintHS256 signs a token with an HS256 secret.
func MintHS256(secret []byte, r TokenRequest, now time.Time) (string, error) {
	if r.TTL <= 0 {
		return "", errors.New("the token lifetime must be positive")
	}
	c := tokenClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   r.Subject,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(r.TTL)),
			Issuer:    r.Issuer,
		},
		WorkspaceID: r.WorkspaceID, Role: r.Role, Name: r.Name, Email: r.Email,
	}
	if r.Audience != "" {
		c.Audience = jwt.ClaimStrings{r.Audience}
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(secret)
}
