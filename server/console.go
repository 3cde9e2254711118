package server

import (
	"encoding/json"
	"net/http"

	"switchboard/console"
)

// DevToken is a token that `switchboard dev` offers on the console's
// sign-in page.
type DevToken struct {
	Label string `json:"label"`
	Role  string `json:"role"`
	Token string `json:"token"`
}

// mountConsole serves the agent console at / (its page and assets; any
// other path is 404) and, when there are dev tokens, the list of them at
// /console/dev-tokens.
func (s *Server) mountConsole(tokens []DevToken) {
	s.mux.Handle("/", console.Handler())
	if len(tokens) == 0 {
		return
	}
	body, err := json.Marshal(tokens)
	if err != nil {
		panic("server: encoding the dev tokens: " + err.Error())
	}
	s.mux.HandleFunc("GET /console/dev-tokens", func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		console.SecurityHeaders(h, r.Host)
		h.Set("Content-Type", "application/json; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		_, _ = w.Write(body)
	})
}
