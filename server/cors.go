package server

import (
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/rs/cors"
)

// corsHeaders are the request headers a GraphQL client sends that a
// browser asks leave for: the token, the body's type, and Apollo's client
// identification.
var corsHeaders = []string{"Authorization", "Content-Type", "Accept", "apollographql-client-name", "apollographql-client-version"}

// devOrigins are the pages `switchboard dev` lets call it besides the
// configured ones: a local app on any port (a Vite or webpack dev server).
var devOrigins = []string{"http://localhost:*", "http://127.0.0.1:*"}

// withCORS lets pages of the allowed origins call /graphql from a browser:
// the same host patterns that may open a WebSocket
// (SWITCHBOARD_ALLOWED_ORIGINS). A page of any other origin gets no CORS
// headers, so its browser keeps the answer from it. No credentials mode:
// the token travels in a header, never in a cookie.
func withCORS(h http.Handler, patterns []string, dev bool) http.Handler {
	if dev {
		patterns = append(append([]string{}, patterns...), devOrigins...)
	}
	if len(patterns) == 0 {
		return h
	}
	return cors.New(cors.Options{
		AllowOriginFunc: func(origin string) bool { return originAllowed(origin, patterns) },
		AllowedMethods:  []string{http.MethodGet, http.MethodPost},
		AllowedHeaders:  corsHeaders,
		// A client told to retry later should see when.
		ExposedHeaders: []string{"Retry-After"},
		// Ten minutes: within every browser's cap, and a changed setting
		// reaches pages soon.
		MaxAge: 600,
	}).Handler(h)
}

// originAllowed matches an Origin header against host patterns as the
// WebSocket's origin check does (coder/websocket's OriginPatterns): a
// pattern is matched, case-insensitively and with path.Match, against the
// origin's host (with its port), or against scheme://host when the pattern
// names a scheme.
func originAllowed(origin string, patterns []string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	for _, p := range patterns {
		target := u.Host
		if strings.Contains(p, "://") {
			target = u.Scheme + "://" + u.Host
		}
		if ok, err := path.Match(strings.ToLower(p), strings.ToLower(target)); err == nil && ok {
			return true
		}
	}
	return false
}
