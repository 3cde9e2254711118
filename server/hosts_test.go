package server_test

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"switchboard/internal/testserver"
	"switchboard/server"
)

// Tests of what a request's Host may be, over real sockets: under dev only
// names of this machine are answered (DNS rebinding), elsewhere any.

// exchange sends a raw HTTP/1.1 request, written as given (so its Host may
// be anything, even empty), and returns the response with its body read.
func exchange(t *testing.T, addr, request string) (*http.Response, string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, request); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the answer to %q: %v", request, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusSwitchingProtocols {
		return resp, "" // the connection is a WebSocket now; closing it ends it
	}
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// hostRequest is one endpoint's request as raw HTTP, for a Host.
type hostRequest struct {
	name string
	// raw returns the request to send with host as its Host.
	raw func(host string) string
	// status is the endpoint's answer to a request it serves.
	status int
}

func endpoints(token string) []hostRequest {
	get := func(path string, headers ...string) func(string) string {
		return func(host string) string {
			return "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\n" + strings.Join(headers, "") + "Connection: close\r\n\r\n"
		}
	}
	query := `{"query":"{ me { id } }"}`
	var key [16]byte
	_, _ = rand.Read(key[:])
	return []hostRequest{
		{"the console", get("/"), http.StatusOK},
		{"the dev tokens", get("/console/dev-tokens"), http.StatusOK},
		{"a query over GET", get("/graphql?query=%7B__typename%7D", "Authorization: Bearer "+token+"\r\n"), http.StatusOK},
		{"a query over POST", func(host string) string {
			return "POST /graphql HTTP/1.1\r\nHost: " + host + "\r\nAuthorization: Bearer " + token +
				"\r\nContent-Type: application/json\r\nContent-Length: " + fmt.Sprint(len(query)) + "\r\nConnection: close\r\n\r\n" + query
		}, http.StatusOK},
		{"/graphql without a token", get("/graphql?query=%7B__typename%7D"), http.StatusUnauthorized},
		{"the playground", get("/playground"), http.StatusOK},
		{"/healthz", get("/healthz"), http.StatusOK},
		{"/readyz", get("/readyz"), http.StatusOK},
		{"an unknown path", get("/nowhere"), http.StatusNotFound},
		{"the WebSocket upgrade", get("/graphql", "Upgrade: websocket\r\n", "Sec-WebSocket-Version: 13\r\n",
			"Sec-WebSocket-Key: "+base64.StdEncoding.EncodeToString(key[:])+"\r\n", "Sec-WebSocket-Protocol: graphql-transport-ws\r\n",
			"Connection: Upgrade\r\n"), http.StatusSwitchingProtocols},
	}
}

// startDev starts a dev server offering an admin token, which it returns.
func startDev(t *testing.T) (*testserver.Server, string) {
	t.Helper()
	admin, err := server.MintHS256(secret, server.TokenRequest{
		Subject: "ada", WorkspaceID: "demo", Role: "admin", Name: "Ada", TTL: time.Hour,
	}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return testserver.StartWith(t, secret, func(c *server.Config) {
		c.Dev, c.DevTokens = true, []server.DevToken{{Label: "Ada (admin)", Role: "admin", Token: admin}}
	}), admin
}

func TestDevAnswersOnlyLoopbackHostNames(t *testing.T) {
	srv, token := startDev(t)
	addr := strings.TrimPrefix(srv.URL, "http://")
	_, port, _ := net.SplitHostPort(addr)
	loopback := []string{"127.0.0.1:" + port, "127.0.0.1", "[::1]:" + port, "[::1]", "localhost:" + port, "localhost", "LocalHost:" + port, "LOCALHOST"}
	foreign := []string{
		"evil.example", "evil.example:" + port, "127.0.0.1.evil.example", "127.0.0.1.evil.example:" + port,
		"localhost.evil.example", "localhost.evil.example:" + port, "", "127.0.0.2:" + port, "0.0.0.0:" + port,
		"127.1:" + port, "localhost.:" + port, "localhost:", "[::1]:", "[::1]:" + port + ":1", "[0:0:0:0:0:0:0:1]:" + port,
	}
	for _, ep := range endpoints(token) {
		t.Run(ep.name, func(t *testing.T) {
			for _, host := range loopback {
				if resp, body := exchange(t, addr, ep.raw(host)); resp.StatusCode != ep.status {
					t.Errorf("Host %q: %s %s, want %d", host, resp.Status, body, ep.status)
				}
			}
			for _, host := range foreign {
				resp, body := exchange(t, addr, ep.raw(host))
				if resp.StatusCode != http.StatusMisdirectedRequest || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
					t.Errorf("Host %q: %s %s, want 421 with nosniff", host, resp.Status, body)
				}
				if strings.Contains(body, token) {
					t.Errorf("Host %q: the answer holds the token", host)
				}
			}
		})
	}
}

func TestServeAnswersAnyHost(t *testing.T) {
	srv := testserver.Start(t, secret)
	token := srv.Token(t, "acme", "ada", "admin", "Ada")
	addr := strings.TrimPrefix(srv.URL, "http://")
	for _, ep := range endpoints(token) {
		if ep.name == "the dev tokens" {
			continue // serve has none: the console's 404
		}
		for _, host := range []string{"switchboard.example", "evil.example:8080", "127.0.0.1.evil.example", "localhost"} {
			if resp, body := exchange(t, addr, ep.raw(host)); resp.StatusCode != ep.status {
				t.Errorf("%s, Host %q: %s %s, want %d", ep.name, host, resp.Status, body, ep.status)
			}
		}
	}
}
