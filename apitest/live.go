package apitest

import (
	"net/http"
	"strings"

	"switchboard/internal/wsclient"
)

// Socket is a WebSocket client connection of a test (internal/wsclient).
type Socket = wsclient.Socket

// WSMessage is one protocol message.
type WSMessage = wsclient.Message

// wsURL is the server's GraphQL endpoint as ws://.
func (e *Env) wsURL() string {
	return "ws" + strings.TrimPrefix(e.Server.URL, "http") + "/graphql"
}

// DialRaw opens a WebSocket to the server with the given subprotocols and
// headers, without any protocol message.
func (e *Env) DialRaw(subprotocols []string, header http.Header) (*Socket, *http.Response, error) {
	e.T.Helper()
	return wsclient.Dial(e.T, e.wsURL(), subprotocols, header)
}

// Dial opens a graphql-transport-ws connection for c and waits for its
// connection_ack.
func (c *Client) Dial() *Socket {
	c.env.T.Helper()
	return wsclient.Connect(c.env.T, c.env.wsURL(), wsclient.TransportWS, c.Token)
}
