package ws

import (
	"context"
	"strings"

	"github.com/coder/websocket"

	"switchboard/domain"
)

// init authenticates the connection with the token of its connection_init
// payload, or else of the upgrade request, signs the agent in, and
// acknowledges; the token's expiry and the agent's deactivation will close
// the connection.
func (cn *conn) init(token string) {
	cn.mu.Lock()
	seen := cn.initSeen
	cn.initSeen = true
	cn.mu.Unlock()
	if seen {
		cn.close(disconnectTooManyInits)
		return
	}
	if token == "" {
		token = cn.headerToken
	}
	actor, expires, err := cn.cfg.Authenticate(cn.opsCtx, token)
	if err == nil {
		_, err = cn.cfg.Presence.SignIn(cn.opsCtx, actor)
	}
	if err != nil {
		cn.refuse(err)
		return
	}
	cn.mu.Lock()
	cn.actor = actor
	cn.mu.Unlock()
	cn.after(expires.Sub(cn.cfg.Clock.Now()), func() { cn.close(disconnectTokenExpired) })
	if actor.Role.IsAgent() {
		cn.srv.watchAgent(cn, actor)
	}
	for _, m := range cn.dialect.acknowledgement() {
		cn.enqueue(m)
	}
	cn.mu.Lock()
	cn.acked = true
	cn.mu.Unlock()
}

// refuse closes a connection whose caller may not connect.
func (cn *conn) refuse(err error) {
	code := domain.ErrorCode(err)
	if code != domain.CodeUnauthenticated && code != domain.CodeForbidden {
		cn.cfg.Logger.Error("authenticating a websocket", "err", err)
		cn.close(disconnectInternal)
		return
	}
	if b := cn.dialect.refusal(err); b != nil {
		// Written here, not queued: the close below would race the write
		// loop and could go out first. Nothing else is queued before the ack.
		ctx, cancel := context.WithTimeout(cn.opsCtx, cn.cfg.WriteTimeout)
		_ = cn.ws.Write(ctx, websocket.MessageText, b)
		cancel()
	}
	cn.close(disconnectForbidden(err))
}

// bearer is the token of an Authorization header with the Bearer scheme,
// or "".
func bearer(h string) string {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if ok && strings.EqualFold(scheme, "Bearer") {
		return strings.TrimSpace(tok)
	}
	return ""
}
