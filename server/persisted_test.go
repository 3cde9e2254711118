package server_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"switchboard/internal/testserver"
	"switchboard/server"
)

func sha(doc string) string {
	sum := sha256.Sum256([]byte(doc))
	return hex.EncodeToString(sum[:])
}

func persisted(hash string) map[string]any {
	return map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hash}}
}

func postJSON(t *testing.T, srv *testserver.Server, token string, body map[string]any) answer {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	return postBody(t, srv, token, "", string(b))
}

func TestAutomaticPersistedQueries(t *testing.T) {
	srv := testserver.Start(t, secret)
	ben := srv.Token(t, "ws", "ben", "agent", "Ben")
	const doc = `query Me { me { id } }`
	hash := sha(doc)

	// Hash alone, not known yet: Apollo's link sends the document next.
	a := postJSON(t, srv, ben, map[string]any{"extensions": persisted(hash)})
	if a.code() != "PERSISTED_QUERY_NOT_FOUND" || a.Errors[0].Message != "PersistedQueryNotFound" {
		t.Fatalf("an unknown hash: %s", a.raw)
	}
	// A hash that is not the document's is refused, and registers nothing.
	if a := postJSON(t, srv, ben, map[string]any{"query": doc, "extensions": persisted(sha("other"))}); a.code() != "BAD_USER_INPUT" {
		t.Fatalf("a wrong hash: %s", a.raw)
	}
	// A document that does not validate is not registered either.
	bad := `query { me { nope } }`
	postJSON(t, srv, ben, map[string]any{"query": bad, "extensions": persisted(sha(bad))})
	if a := postJSON(t, srv, ben, map[string]any{"extensions": persisted(sha(bad))}); a.code() != "PERSISTED_QUERY_NOT_FOUND" {
		t.Fatalf("an invalid document was registered: %s", a.raw)
	}
	// Document and hash: answered and registered.
	if a := postJSON(t, srv, ben, map[string]any{"query": doc, "extensions": persisted(hash)}); a.code() != "" || string(a.Data) != `{"me":{"id":"ben"}}` {
		t.Fatalf("document and hash: %s", a.raw)
	}
	// Then the hash alone: over POST, over GET (as Apollo's
	// useGETForHashedQueries sends it), as a documentId, and over the
	// WebSocket, for another caller too.
	cleo := srv.Token(t, "ws", "cleo", "agent", "Cleo")
	if a := postJSON(t, srv, cleo, map[string]any{"extensions": persisted(hash)}); string(a.Data) != `{"me":{"id":"cleo"}}` {
		t.Fatalf("the hash alone over POST: %s", a.raw)
	}
	ext, _ := json.Marshal(persisted(hash))
	if a := getParams(t, srv, ben, "", url.Values{"extensions": {string(ext)}}); string(a.Data) != `{"me":{"id":"ben"}}` {
		t.Fatalf("the hash alone over GET: %s", a.raw)
	}
	if a := postJSON(t, srv, ben, map[string]any{"documentId": "sha256:" + hash}); string(a.Data) != `{"me":{"id":"ben"}}` {
		t.Fatalf("a documentId: %s", a.raw)
	}
	if a := overSocketPayload(t, srv, ben, map[string]any{"extensions": persisted(hash)}); string(a.Data) != `{"me":{"id":"ben"}}` {
		t.Fatalf("the hash alone over the WebSocket: %+v", a)
	}
	// Protocol mistakes are the caller's.
	for name, body := range map[string]map[string]any{
		"version 2":     {"extensions": map[string]any{"persistedQuery": map[string]any{"version": 2, "sha256Hash": hash}}},
		"no hash":       {"extensions": map[string]any{"persistedQuery": map[string]any{"version": 1}}},
		"not an object": {"extensions": map[string]any{"persistedQuery": "x"}},
		"both":          {"documentId": hash, "extensions": persisted(hash)},
	} {
		if a := postJSON(t, srv, ben, body); a.code() != "BAD_USER_INPUT" {
			t.Errorf("%s: %s", name, a.raw)
		}
	}
}

func TestTrustedDocumentsAreAllCallersOtherThanAdminsMayRun(t *testing.T) {
	const listed = `query Me { me { id } }`
	const unlisted = `query { me { name } }`
	manifest := filepath.Join(t.TempDir(), "persisted-documents.json")
	b, _ := json.Marshal(map[string]string{sha(listed): listed})
	if err := os.WriteFile(manifest, b, 0o600); err != nil {
		t.Fatal(err)
	}
	docs, err := server.LoadTrustedDocuments(manifest)
	if err != nil {
		t.Fatal(err)
	}
	srv := testserver.StartWith(t, secret, func(c *server.Config) { c.TrustedDocuments = docs })
	ben := srv.Token(t, "ws", "ben", "agent", "Ben")
	hook := srv.Token(t, "ws", "hook", "integration", "Hook")
	ada := srv.Token(t, "ws", "ada", "admin", "Ada")

	// A listed document: by hash, as a documentId, or as identical text.
	for name, body := range map[string]map[string]any{
		"by hash":       {"extensions": persisted(sha(listed))},
		"as documentId": {"documentId": "sha256:" + sha(listed)},
		"as text":       {"query": listed},
	} {
		if a := postJSON(t, srv, ben, body); a.Status != http.StatusOK || string(a.Data) != `{"me":{"id":"ben"}}` {
			t.Errorf("an agent runs the listed document %s: %s", name, a.raw)
		}
	}
	// An unlisted one, in any form, is refused for agents and integrations.
	for _, token := range []string{ben, hook} {
		if a := postJSON(t, srv, token, map[string]any{"query": unlisted}); a.code() != "FORBIDDEN" {
			t.Errorf("an unlisted document: %s", a.raw)
		}
		if a := postJSON(t, srv, token, map[string]any{"query": unlisted, "extensions": persisted(sha(unlisted))}); a.code() != "FORBIDDEN" {
			t.Errorf("an unlisted document with its hash: %s", a.raw)
		}
		if a := postJSON(t, srv, token, map[string]any{"extensions": persisted(sha(unlisted))}); a.code() != "PERSISTED_QUERY_NOT_FOUND" {
			t.Errorf("an unlisted hash: %s", a.raw)
		}
	}
	if a := overSocket(t, srv, ben, unlisted, ""); a.code() != "FORBIDDEN" {
		t.Errorf("an unlisted document over the WebSocket: %+v", a)
	}
	// Nothing an agent sends is registered: after the admin registers the
	// unlisted document, an agent still may not run it by hash.
	if a := postJSON(t, srv, ada, map[string]any{"query": unlisted, "extensions": persisted(sha(unlisted))}); a.code() != "" {
		t.Fatalf("an admin runs anything: %s", a.raw)
	}
	if a := postJSON(t, srv, ben, map[string]any{"extensions": persisted(sha(unlisted))}); a.code() != "PERSISTED_QUERY_NOT_FOUND" {
		t.Errorf("an agent runs what an admin registered: %s", a.raw)
	}
	// The admin keeps the playground: any document, and the hash it sent.
	if a := postJSON(t, srv, ada, map[string]any{"extensions": persisted(sha(unlisted))}); string(a.Data) != `{"me":{"name":"Ada"}}` {
		t.Errorf("an admin by hash: %s", a.raw)
	}
}

func TestTrustedDocumentsManifestMistakesAreSaidAtStart(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"not json":     `{`,
		"not strings":  `{"a": 1}`,
		"empty":        `{}`,
		"not graphql":  `{"a": "query {"}`,
		"a json array": `["query { me { id } }"]`,
	} {
		path := filepath.Join(dir, "m.json")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := server.LoadTrustedDocuments(path); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := server.LoadTrustedDocuments(filepath.Join(dir, "missing.json")); err == nil {
		t.Error("a missing file: accepted")
	}
}
