package server

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

	"switchboard/console"
)

// playgroundFiles is the playground, served entirely from the binary: its
// page, bootstrap script and stylesheet, and GraphiQL with its explorer
// plugin and React as their npm packages publish them (third_party/refresh.sh
// copies them from third_party/package-lock.json), with their licences. The
// npm manifests and the script are not embedded.
//
//go:embed playground/index.html playground/playground.js playground/playground.css
//go:embed playground/third_party/react playground/third_party/react-dom playground/third_party/graphiql playground/third_party/plugin-explorer
//go:embed playground/third_party/THIRD-PARTY-LICENSES.txt playground/third_party/FILES
var playgroundFiles embed.FS

// playgroundAsset is one embedded file, ready to serve.
type playgroundAsset struct {
	name        string
	body        []byte
	contentType string
	etag        string
}

// playgroundContentType is the media type of an embedded file by its name;
// "" for a file that is not served.
func playgroundContentType(name string) string {
	switch ext := path.Ext(name); {
	case ext == ".html":
		return "text/html; charset=utf-8"
	case ext == ".js":
		return "text/javascript; charset=utf-8"
	case ext == ".css":
		return "text/css; charset=utf-8"
	case ext == ".txt", name == "FILES", strings.HasPrefix(name, "LICENSE"):
		return "text/plain; charset=utf-8"
	}
	return ""
}

// playgroundAssets maps a URL path to its file: the page at /playground,
// everything else under /playground/ at its path in the playground
// directory.
var playgroundAssets = func() map[string]*playgroundAsset {
	out := map[string]*playgroundAsset{}
	err := fs.WalkDir(playgroundFiles, "playground", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		ct := playgroundContentType(path.Base(p))
		if ct == "" {
			return nil
		}
		body, err := playgroundFiles.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		urlPath := "/" + p
		if p == "playground/index.html" {
			urlPath = "/playground"
		}
		out[urlPath] = &playgroundAsset{name: path.Base(p), body: body, contentType: ct, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		return nil
	})
	if err != nil {
		panic("server: reading the embedded playground: " + err.Error())
	}
	return out
}()

// mountPlayground serves the playground at /playground and its files under
// /playground/ (any other path there is 404; a method other than GET or
// HEAD, 405).
func (s *Server) mountPlayground() {
	s.mux.HandleFunc("/playground", servePlayground)
	s.mux.HandleFunc("/playground/", servePlayground)
}

// servePlayground serves one playground file with the console's security
// headers and a policy of its own. Every response revalidates (no-cache,
// with an ETag), so a new binary's files are picked up at once.
func servePlayground(w http.ResponseWriter, r *http.Request) {
	f, ok := playgroundAssets[r.URL.Path]
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
	console.SecurityHeaders(h, r.Host)
	h.Set("Content-Security-Policy", playgroundPolicy(r.Host))
	h.Set("Content-Type", f.contentType)
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", f.etag)
	http.ServeContent(w, r, f.name, time.Time{}, bytes.NewReader(f.body))
}

// playgroundPolicy is the Content-Security-Policy of the playground served
// to host: the console's discipline (scripts and styles from this server's
// files only, no inline script or style, connections to its own origin and
// its WebSocket origins, no framing, no forms, no base URL). GraphiQL's
// stylesheet carries its fonts and a few images as data: URLs, which make
// no request; the page's icon is an empty data: URL.
func playgroundPolicy(host string) string {
	return "default-src 'none'; script-src 'self'; style-src 'self'; img-src data:; font-src data:; " +
		"connect-src " + console.ConnectSources(host) + "; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
}
