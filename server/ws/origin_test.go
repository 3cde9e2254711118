package ws

import "testing"

func TestLoopbackHostAndOrigin(t *testing.T) {
	for host, want := range map[string]bool{
		"127.0.0.1": true, "127.0.0.1:8080": true, "[::1]": true, "[::1]:8080": true,
		"localhost": true, "LocalHost:65535": true,
		"": false, "::1": false, "[::1]:": false, "localhost:": false, "localhost:123456": false, "localhost:8o": false,
		"localhost.": false, "127.0.0.2": false, "127.1": false, "evil.example": false, "127.0.0.1.evil.example": false,
		"localhost.evil.example:80": false, "[::1].evil.example": false, "127.0.0.1:80:80": false, "[::2]": false,
	} {
		if got := LoopbackHost(host); got != want {
			t.Errorf("LoopbackHost(%q) = %v", host, got)
		}
	}
	for origin, want := range map[string]bool{
		"http://localhost:3000": true, "https://127.0.0.1": true, "http://[::1]:8080": true,
		"null": false, "file://": false, "ws://localhost": false, "http://localhost/": false,
		"http://user@localhost": false, "http://localhost.evil.example": false, "http://localhost:80?x": false,
	} {
		if got := loopbackOrigin(origin); got != want {
			t.Errorf("loopbackOrigin(%q) = %v", origin, got)
		}
	}
}
