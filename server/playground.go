package server

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"switchboard/console"
)

// playgroundHandler serves the playground page with the console's headers
// and a Content-Security-Policy that lets the page load and run exactly what
// it does: its scripts and stylesheets (each also pinned by its integrity
// hash in the page) and its inline script and style, each by its hash.
// The policy is read off the page itself, rendered once here, so a new
// gqlgen with other files or another inline script gets a matching policy,
// and no file's host is written twice.
func playgroundHandler(page http.Handler) http.Handler {
	rec := httptest.NewRecorder()
	page.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/playground", nil))
	scripts, styles, err := pageSources(rec.Body.String())
	if err != nil {
		panic("server: reading the playground page: " + err.Error())
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		console.SecurityHeaders(h, r.Host)
		// Images of data: URLs make no request; fonts come from the system
		// (the stylesheet's web fonts are not the page's own sources).
		h.Set("Content-Security-Policy", "default-src 'none'; script-src "+strings.Join(scripts, " ")+
			"; style-src "+strings.Join(styles, " ")+"; img-src 'self' data:; connect-src "+console.ConnectSources(r.Host)+
			"; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
		page.ServeHTTP(w, r)
	})
}

var (
	// sourceTag is an element that loads or runs something.
	sourceTag = regexp.MustCompile(`(?is)<(script|style|link)\b([^>]*)>`)
	attribute = regexp.MustCompile(`(?is)([a-z-]+)\s*=\s*"([^"]*)"`)
)

// pageSources reads an HTML page's CSP sources: for scripts, the origin of
// each <script src> and the hash of each inline script; for styles, the
// origin of each <link rel="stylesheet" href> and the hash of each inline
// style. A <link> of another kind is an error: the policy would not cover
// it.
func pageSources(page string) (scripts, styles []string, err error) {
	add := func(list []string, source string) []string {
		if slices.Contains(list, source) {
			return list
		}
		return append(list, source)
	}
	for rest := page; ; {
		m := sourceTag.FindStringSubmatchIndex(rest)
		if m == nil {
			return scripts, styles, nil
		}
		name := strings.ToLower(rest[m[2]:m[3]])
		attrs := map[string]string{}
		for _, a := range attribute.FindAllStringSubmatch(rest[m[4]:m[5]], -1) {
			attrs[strings.ToLower(a[1])] = html.UnescapeString(a[2])
		}
		rest = rest[m[1]:]
		if name == "link" {
			if !slices.Contains(strings.Fields(strings.ToLower(attrs["rel"])), "stylesheet") {
				return nil, nil, errors.New(`a <link rel="` + attrs["rel"] + `">, which the policy does not cover`)
			}
			origin, err := sourceOrigin(attrs["href"])
			if err != nil {
				return nil, nil, err
			}
			styles = add(styles, origin)
			continue
		}
		// A script or style element's text runs to its end tag, whatever
		// it holds.
		end := strings.Index(strings.ToLower(rest), "</"+name)
		if end < 0 {
			return nil, nil, errors.New("a <" + name + "> without its end tag")
		}
		text := rest[:end]
		rest = rest[end:]
		if src, ok := attrs["src"]; ok && name == "script" {
			origin, err := sourceOrigin(src)
			if err != nil {
				return nil, nil, err
			}
			scripts = add(scripts, origin)
			continue
		}
		// Browsers hash the text after turning CR LF and CR into LF.
		text = strings.ReplaceAll(strings.ReplaceAll(text, "\r\n", "\n"), "\r", "\n")
		sum := sha256.Sum256([]byte(text))
		hash := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
		if name == "script" {
			scripts = add(scripts, hash)
		} else {
			styles = add(styles, hash)
		}
	}
}

// sourceOrigin is the CSP source of a URL in the page: 'self' for a path
// on the page's own origin, else the http or https origin it names.
func sourceOrigin(ref string) (string, error) {
	u, err := url.Parse(ref)
	switch {
	case err != nil:
		return "", err
	case u.Scheme == "" && u.Host == "" && u.Path != "":
		return "'self'", nil
	case (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && u.User == nil:
		return u.Scheme + "://" + strings.ToLower(u.Host), nil
	}
	return "", errors.New("the source " + ref + " is neither a path nor an http(s) URL")
}
