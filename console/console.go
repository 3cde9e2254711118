// Package console is the agent console: a small web app (plain HTML, CSS and
// JavaScript modules, no build step) embedded in the binary and served at /.
// It is a client of the public API only — GraphQL over HTTP at /graphql for
// queries and mutations, graphql-transport-ws on the same path for live
// updates — so everything it does, any single-page app could do.
package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed static
var static embed.FS

// file is one embedded file, ready to serve.
type file struct {
	name        string
	body        []byte
	contentType string
	etag        string
}

// contentTypes are the media types of the files the console ships; a file
// of another kind is not served.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
}

// files maps a URL path ("/", "/app.css", "/js/main.js") to its file.
var files = func() map[string]*file {
	out := map[string]*file{}
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		ct, ok := contentTypes[path.Ext(p)]
		if !ok {
			return nil
		}
		body, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		f := &file{name: path.Base(p), body: body, contentType: ct, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		urlPath := strings.TrimPrefix(p, "static")
		if urlPath == "/index.html" {
			urlPath = "/"
		}
		out[urlPath] = f
		return nil
	})
	if err != nil {
		panic("console: reading the embedded files: " + err.Error())
	}
	return out
}()

// Handler serves the console's files: index.html at /, the assets at their
// paths, 404 for anything else. Every response revalidates (no-cache, with
// an ETag), so a new binary's files are picked up at once.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		SecurityHeaders(h, r.Host)
		h.Set("Content-Type", f.contentType)
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", f.etag)
		http.ServeContent(w, r, f.name, time.Time{}, bytes.NewReader(f.body))
	})
}

// SecurityHeaders sets the headers every console response carries: a strict
// Content-Security-Policy (the page's own files only, no inline script or
// style, connections to its own origin only) and its companions.
func SecurityHeaders(h http.Header, host string) {
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; font-src 'self'; "+
		"connect-src "+ConnectSources(host)+"; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
}

// ConnectSources is the connect-src of a page served to host: its own
// origin. CSP's 'self' does not cover WebSocket URLs in every browser, so
// the page's own ws: and wss: origins are named, from the request's Host.
func ConnectSources(host string) string {
	if !validHost(host) {
		return "'self'"
	}
	return "'self' ws://" + host + " wss://" + host
}

// validHost reports whether host is a plain host[:port] that can go into
// the policy as it is (a name, an IPv4 address or a bracketed IPv6 one).
func validHost(host string) bool {
	if host == "" || len(host) > 255 {
		return false
	}
	for _, c := range host {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.', c == '-', c == ':', c == '[', c == ']':
		default:
			return false
		}
	}
	return true
}
