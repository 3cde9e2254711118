package server

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"

	"switchboard/domain"
)

// Persisted documents: a request may name its document by a hash instead
// of sending it, in Apollo's automatic persisted queries protocol
// (extensions.persistedQuery {version: 1, sha256Hash}) or as a documentId
// (turned into the same extension by the HTTP layer).
//
//   - Automatic persisted queries: any caller registers a document by
//     sending it with its hash, once it has been prepared (parsed, measured,
//     validated); later requests send the hash alone. An unknown hash is
//     answered PersistedQueryNotFound, and Apollo's link sends the document
//     again. The documents live in one bounded cache shared by HTTP and
//     WebSocket.
//   - Trusted documents (SWITCHBOARD_TRUSTED_DOCUMENTS): a manifest of
//     hash → document, as GraphQL Code Generator's client preset or Relay
//     write it. When set, callers other than admins run only its documents,
//     named by hash or sent as identical text; nothing they send is
//     registered. Admins keep the playground and automatic persisted
//     queries.
type persistedDocuments struct {
	cache *documentCache
	// trusted maps a manifest's ids to its documents; nil when no manifest
	// is set.
	trusted map[string]string
	// trustedText holds the manifest's documents, to let a listed document
	// be sent as text too.
	trustedText map[string]bool
}

// The codes of the persisted-documents protocol. PERSISTED_QUERY_NOT_FOUND
// is Apollo's, which its clients look for to send the document again.
const (
	codePersistedNotFound = "PERSISTED_QUERY_NOT_FOUND"
	msgPersistedNotFound  = "PersistedQueryNotFound"
)

// Bounds of the automatic persisted queries cache: documents are at most a
// body (1 MiB), so the cache is bounded in bytes as well as in count.
const (
	persistedMaxDocuments = 10_000
	persistedMaxBytes     = 32 << 20
)

func newPersistedDocuments(trusted map[string]string) *persistedDocuments {
	p := &persistedDocuments{cache: newDocumentCache(persistedMaxDocuments, persistedMaxBytes)}
	if trusted != nil {
		p.trusted = trusted
		p.trustedText = make(map[string]bool, len(trusted))
		for _, doc := range trusted {
			p.trustedText[doc] = true
		}
	}
	return p
}

// resolve fills params.Query from its hash where it names a document, and
// refuses what the caller may not run. It returns the hash to register the
// document under once it is prepared, or "".
func (p *persistedDocuments) resolve(ctx context.Context, params *graphql.RawParams) (register string, err *gqlerror.Error) {
	hash, err := persistedHash(params.Extensions)
	if err != nil {
		return "", err
	}
	a, _ := domain.ActorFromContext(ctx)
	if p.trusted != nil && a.Role != domain.RoleAdmin {
		switch {
		case params.Query == "" && hash == "":
			return "", persistedError("FORBIDDEN", "this server runs only its trusted documents: name one by its hash")
		case params.Query == "":
			doc, ok := p.trusted[hash]
			if !ok {
				return "", persistedError(codePersistedNotFound, msgPersistedNotFound)
			}
			params.Query = doc
		case !p.trustedText[params.Query]:
			return "", persistedError("FORBIDDEN", "this server runs only its trusted documents, and this is not one of them")
		case hash != "" && p.trusted[hash] != params.Query:
			return "", persistedError(codeBadRequest, "the persisted query's sha256Hash does not name this document")
		}
		return "", nil
	}
	if hash == "" {
		return "", nil
	}
	if params.Query == "" {
		doc, ok := p.cache.get(hash)
		if !ok {
			doc, ok = p.trusted[hash]
		}
		if !ok {
			return "", persistedError(codePersistedNotFound, msgPersistedNotFound)
		}
		params.Query = doc
		return "", nil
	}
	if sum := sha256.Sum256([]byte(params.Query)); hex.EncodeToString(sum[:]) != hash {
		return "", persistedError(codeBadRequest, "the persisted query's sha256Hash is not the SHA-256 of its query")
	}
	return hash, nil
}

// persistedHash reads extensions.persistedQuery: "" when there is none.
func persistedHash(ext map[string]any) (string, *gqlerror.Error) {
	raw, ok := ext["persistedQuery"]
	if !ok || raw == nil {
		return "", nil
	}
	pq, ok := raw.(map[string]any)
	if !ok {
		return "", persistedError(codeBadRequest, "extensions.persistedQuery must be an object")
	}
	if v, _ := pq["version"].(json.Number); v != "1" {
		return "", persistedError(codeBadRequest, "extensions.persistedQuery.version must be 1")
	}
	hash, _ := pq["sha256Hash"].(string)
	if hash == "" || len(hash) > 128 {
		return "", persistedError(codeBadRequest, "extensions.persistedQuery.sha256Hash must be a hash")
	}
	return hash, nil
}

func persistedError(code, msg string) *gqlerror.Error {
	return &gqlerror.Error{Message: msg, Extensions: map[string]any{"code": code}}
}

// LoadTrustedDocuments reads a manifest of trusted documents: a JSON object
// of id → document, as GraphQL Code Generator's client preset
// (persisted-documents.json) or Relay's persisted output writes it. Every
// document must parse.
func LoadTrustedDocuments(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the trusted documents: %w", err)
	}
	var docs map[string]string
	if err := json.Unmarshal(b, &docs); err != nil {
		return nil, fmt.Errorf("the trusted documents in %s are not a JSON object of id to document: %w", path, err)
	}
	if len(docs) == 0 {
		return nil, errors.New("the trusted documents in " + path + " are empty")
	}
	for id, doc := range docs {
		if _, err := parser.ParseQuery(&ast.Source{Input: doc}); err != nil {
			return nil, fmt.Errorf("the trusted document %q in %s does not parse: %v", id, path, err)
		}
	}
	return docs, nil
}

// documentCache is a least-recently-used cache of documents by hash,
// bounded in count and in bytes.
type documentCache struct {
	mu       sync.Mutex
	maxCount int
	maxBytes int
	bytes    int
	order    *list.List // front: most recently used
	byHash   map[string]*list.Element
}

type cachedDocument struct{ hash, doc string }

func newDocumentCache(maxCount, maxBytes int) *documentCache {
	return &documentCache{maxCount: maxCount, maxBytes: maxBytes, order: list.New(), byHash: make(map[string]*list.Element)}
}

func (c *documentCache) get(hash string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byHash[hash]
	if !ok {
		return "", false
	}
	c.order.MoveToFront(e)
	return e.Value.(cachedDocument).doc, true
}

func (c *documentCache) add(hash, doc string) {
	if len(doc) > c.maxBytes {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byHash[hash]; ok {
		c.order.MoveToFront(e)
		return
	}
	c.byHash[hash] = c.order.PushFront(cachedDocument{hash, doc})
	c.bytes += len(doc)
	for c.order.Len() > c.maxCount || c.bytes > c.maxBytes {
		last := c.order.Back()
		old := last.Value.(cachedDocument)
		c.order.Remove(last)
		delete(c.byHash, old.hash)
		c.bytes -= len(old.doc)
	}
}
