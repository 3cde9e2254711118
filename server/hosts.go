package server

import (
	"log/slog"
	"net/http"

	"switchboard/server/ws"
)

// loopbackHostsOnly answers only requests that name this machine in their
// Host (ws.LoopbackHost). A page of another site can rebind its own name to
// 127.0.0.1 and so reach a server on loopback as its own origin (DNS
// rebinding), but its requests still name its host; refusing them keeps the
// demo tokens and the API of `switchboard dev` out of its reach.
//
// The refusal is 421 Misdirected Request: the request reached a server that
// does not serve the host it names (RFC 9110, 15.5.20). A 403 would say the
// caller lacks a permission that some credential could give.
func loopbackHostsOnly(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !ws.LoopbackHost(r.Host) {
			log.Debug("refused a request for another host", "host", r.Host, "path", r.URL.Path)
			w.Header().Set("X-Content-Type-Options", "nosniff")
			writePlain(w, http.StatusMisdirectedRequest, "switchboard dev answers only to 127.0.0.1, [::1] and localhost\n")
			return
		}
		next.ServeHTTP(w, r)
	})
}
