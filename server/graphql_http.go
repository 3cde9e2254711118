package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"switchboard/domain"
	"switchboard/server/ws"
)

// The GraphQL over HTTP specification's media types.
const (
	mediaGraphQLResponse = "application/graphql-response+json"
	mediaJSON            = "application/json"
)

// serveGraphQL answers /graphql per the GraphQL over HTTP specification:
// GET for queries, POST for everything, either response media type. A
// request is authenticated before its document is read.
func (s *Server) serveGraphQL(w http.ResponseWriter, r *http.Request) {
	// Set first, so every answer has it, errors included: a browser must not
	// take a response for HTML or script whatever its body looks like.
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if r.Method == http.MethodGet && ws.IsUpgrade(r) {
		s.sockets.ServeHTTP(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		s.writeErrors(w, mediaJSON, http.StatusMethodNotAllowed, requestError(codeBadRequest, "use GET for queries or POST"))
		return
	}
	media, ok := negotiate(r.Header.Values("Accept"))
	if !ok {
		s.writeErrors(w, mediaJSON, http.StatusNotAcceptable,
			requestError(codeBadRequest, "accept application/graphql-response+json or application/json"))
		return
	}
	ctx := graphql.StartOperationTrace(r.Context())
	actor, agent, err := s.authenticate(ctx, r.Header.Get("Authorization"))
	if err != nil {
		status := statusForAuthError(err)
		if status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="switchboard"`)
		}
		code, msg := string(domain.ErrorCode(err)), err.Error()
		switch {
		case status == http.StatusServiceUnavailable:
			// The store could not serve it now (its outage is logged once,
			// not per request), or the request ran out of time: retry.
			w.Header().Set("Retry-After", "1")
			code = string(domain.CodeUnavailable)
			if domain.ErrorCode(err) != domain.CodeUnavailable {
				msg = operationEnded().Message
			}
		case status >= 500:
			s.log.ErrorContext(ctx, "authenticating a request", "err", err)
			code, msg = string(domain.CodeInternal), "internal error"
		}
		s.writeErrors(w, media, status, requestError(code, msg))
		return
	}
	// The operation's budget: past it, decoding, validation and execution
	// stop, and the resolvers' store calls are cancelled.
	ctx, cancel := context.WithTimeout(domain.ContextWithAgent(domain.ContextWithActor(ctx, actor), agent), s.limits.OperationTimeout)
	defer cancel()
	params, status, gqlErr := s.readParams(ctx, w, r)
	if gqlErr != nil {
		if status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "1")
		}
		s.writeErrors(w, media, status, gqlErr)
		return
	}
	exec := s.executorFor(actor)
	opCtx, errs := exec.CreateOperationContext(ctx, params)
	if errs != nil {
		// A document that does not parse or validate: 400 in the new media
		// type, 200 in application/json (the specification's legacy rule).
		status := http.StatusOK
		if media == mediaGraphQLResponse {
			status = http.StatusBadRequest
		}
		resp := exec.DispatchError(graphql.WithOperationContext(ctx, opCtx), errs)
		s.writeResponse(w, media, unavailableStatus(w, resp, status), resp)
		return
	}
	switch op := opCtx.Operation.Operation; {
	case r.Method == http.MethodGet && op != ast.Query:
		w.Header().Set("Allow", "POST")
		s.writeErrors(w, media, http.StatusMethodNotAllowed, requestError(codeBadRequest, "GET is for queries only; send "+string(op)+"s with POST"))
		return
	case op == ast.Subscription:
		s.writeErrors(w, media, http.StatusBadRequest, requestError(codeBadRequest, "subscriptions are served over WebSocket at /graphql"))
		return
	}
	responses, ctx := exec.DispatchOperation(ctx, opCtx)
	resp := responses(ctx)
	if resp == nil && ctx.Err() != nil {
		// The executor gives up without a word when the context ends.
		resp = &graphql.Response{Errors: gqlerror.List{operationEnded()}}
	}
	s.writeResponse(w, media, unavailableStatus(w, resp, http.StatusOK), resp)
}

// unavailableStatus is 503, with Retry-After, for a response that failed
// as a whole for a reason that is not the caller's (the store, the
// deadline): no data, and an UNAVAILABLE error. Otherwise it is status.
func unavailableStatus(w http.ResponseWriter, resp *graphql.Response, status int) int {
	if resp == nil || (len(resp.Data) > 0 && string(resp.Data) != "null") {
		return status
	}
	for _, e := range resp.Errors {
		if e.Extensions["code"] == string(domain.CodeUnavailable) {
			w.Header().Set("Retry-After", "1")
			return http.StatusServiceUnavailable
		}
	}
	return status
}

// readParams reads the operation from the query string (GET) or the JSON
// body (POST).
func (s *Server) readParams(ctx context.Context, w http.ResponseWriter, r *http.Request) (*graphql.RawParams, int, *gqlerror.Error) {
	params := &graphql.RawParams{Headers: r.Header, ReadTime: graphql.TraceTiming{Start: graphql.Now()}}
	defer func() { params.ReadTime.End = graphql.Now() }()
	if r.Method == http.MethodGet {
		q := r.URL.Query()
		// A parameter twice is a key twice: Go takes the first, other
		// readers the last.
		for _, name := range []string{"query", "operationName", "variables", "extensions", "documentId"} {
			if len(q[name]) > 1 {
				return nil, http.StatusBadRequest, requestError(codeBadRequest, "the "+name+" parameter is given more than once")
			}
		}
		params.Query, params.OperationName = q.Get("query"), q.Get("operationName")
		for name, into := range map[string]*map[string]any{"variables": &params.Variables, "extensions": &params.Extensions} {
			if v := q.Get(name); v != "" {
				m, err := decodeJSONObject([]byte(v))
				if err != nil {
					return nil, http.StatusBadRequest, requestError(codeBadRequest, name+" "+err.Error())
				}
				*into = m
			}
		}
		if err := useDocumentID(params, q.Get("documentId")); err != nil {
			return nil, http.StatusBadRequest, err
		}
		if params.Query == "" && params.Extensions["persistedQuery"] == nil {
			return nil, http.StatusBadRequest, requestError(codeBadRequest, "the query parameter is required")
		}
		return params, 0, nil
	}
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || ct != mediaJSON {
		return nil, http.StatusUnsupportedMediaType, requestError(codeBadRequest, "send the request body as application/json")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.limits.MaxBodyBytes))
	if err != nil {
		if _, tooLarge := errors.AsType[*http.MaxBytesError](err); tooLarge {
			return nil, http.StatusRequestEntityTooLarge, requestError(codeBadRequest, "the request body is larger than the limit")
		}
		return nil, http.StatusBadRequest, requestError(codeBadRequest, "the request body could not be read")
	}
	if len(body) > largeBody {
		release, err := s.gate.enter(ctx, callerKey(ctx))
		if err != nil {
			return nil, http.StatusServiceUnavailable, operationEnded()
		}
		defer release()
	}
	req, err := decodeRequestBody(body)
	if err != nil {
		return nil, http.StatusBadRequest, requestError(codeBadRequest, err.Error())
	}
	params.Query, params.OperationName, params.Variables, params.Extensions = req.Query, req.OperationName, req.Variables, req.Extensions
	if err := useDocumentID(params, req.DocumentID); err != nil {
		return nil, http.StatusBadRequest, err
	}
	return params, 0, nil
}

// useDocumentID turns a request's documentId (the GraphQL over HTTP
// persisted-documents form, "sha256:<hex>" or a bare id) into the
// persistedQuery extension Apollo's clients send, so that one place
// (persistedDocuments) resolves both.
func useDocumentID(params *graphql.RawParams, id string) *gqlerror.Error {
	if id == "" {
		return nil
	}
	if params.Extensions["persistedQuery"] != nil {
		return requestError(codeBadRequest, "give documentId or extensions.persistedQuery, not both")
	}
	if params.Extensions == nil {
		params.Extensions = map[string]any{}
	}
	params.Extensions["persistedQuery"] = map[string]any{"version": json.Number("1"), "sha256Hash": strings.TrimPrefix(id, "sha256:")}
	return nil
}

// requestBody is the operation a POST body carries.
type requestBody struct {
	Query         string
	OperationName string
	Variables     map[string]any
	Extensions    map[string]any
	// DocumentID names a persisted document instead of sending it
	// (persistedDocuments).
	DocumentID string
}

// decodeRequestBody reads a POST body: a JSON object with a non-empty
// "query" string, and optional "operationName" (a string), "variables" and
// "extensions" (objects); null counts as absent and other members are
// ignored. It is strict where a lenient reader would let a body mean two
// things (see decodeStrictJSON): a key twice at any depth, or nesting deeper
// than MaxJSONDepth, is refused. Member names match exactly; encoding/json's
// struct decoding would also take "QUERY" or "variableſ" (a long s) for them.
// Its errors are messages for the caller.
func decodeRequestBody(body []byte) (requestBody, error) {
	v, err := decodeStrictJSON(body)
	if err != nil {
		return requestBody{}, errors.New("the request body " + err.Error())
	}
	if _, batch := v.([]any); batch {
		return requestBody{}, errors.New("the request body is a list: batching is not supported; send one operation per request")
	}
	members, ok := v.(map[string]any)
	if !ok {
		return requestBody{}, errors.New("the request body is not a JSON object with a query string")
	}
	var req requestBody
	for name, into := range map[string]*string{"query": &req.Query, "operationName": &req.OperationName, "documentId": &req.DocumentID} {
		switch s := members[name].(type) {
		case nil:
		case string:
			*into = s
		default:
			return requestBody{}, errors.New("the request body's " + name + " is not a string")
		}
	}
	for name, into := range map[string]*map[string]any{"variables": &req.Variables, "extensions": &req.Extensions} {
		switch m := members[name].(type) {
		case nil:
		case map[string]any:
			*into = m
		default:
			return requestBody{}, errors.New("the request body's " + name + " is not a JSON object")
		}
	}
	if req.Query == "" && req.DocumentID == "" && req.Extensions["persistedQuery"] == nil {
		return requestBody{}, errors.New("the request body has no query")
	}
	return req, nil
}

// decodeJSONObject reads a GET's variables or extensions: a JSON object or
// null, as strictly as a POST body. Its errors complete a sentence that
// starts with the parameter's name.
func decodeJSONObject(data []byte) (map[string]any, error) {
	v, err := decodeStrictJSON(data)
	if err != nil {
		return nil, err
	}
	switch m := v.(type) {
	case nil:
		return nil, nil
	case map[string]any:
		return m, nil
	}
	return nil, errors.New("is not a JSON object")
}

// negotiate picks the response media type from the Accept headers: the
// first acceptable type listed (a client lists its preference first);
// application/json for a missing header or a wildcard, as older clients
// expect.
func negotiate(accepts []string) (string, bool) {
	if len(accepts) == 0 {
		return mediaJSON, true
	}
	best, bestQ := "", -1.0
	for _, header := range accepts {
		for _, part := range strings.Split(header, ",") {
			media, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil {
				continue
			}
			q := 1.0
			if v, ok := params["q"]; ok {
				if q, err = strconv.ParseFloat(v, 64); err != nil {
					q = 0
				}
			}
			var candidate string
			switch media {
			case mediaGraphQLResponse:
				candidate = mediaGraphQLResponse
			case mediaJSON, "application/*", "*/*":
				candidate = mediaJSON
			default:
				continue
			}
			if q > 0 && q > bestQ {
				best, bestQ = candidate, q
			}
		}
	}
	return best, best != ""
}

func (s *Server) writeErrors(w http.ResponseWriter, media string, status int, errs ...*gqlerror.Error) {
	resp := &graphql.Response{Errors: errs}
	// A request refused before its operation ran (unauthenticated, a bad
	// body, a mutation over GET) is an operation of type "invalid" too.
	s.observeRefused(context.Background(), resp)
	s.writeResponse(w, media, status, resp)
}

// wireResponse is a GraphQL response as it goes out: without "data" when
// the request failed before execution, as the specification wants.
type wireResponse struct {
	Errors     []*gqlerror.Error `json:"errors,omitempty"`
	Data       json.RawMessage   `json:"data,omitempty"`
	Extensions map[string]any    `json:"extensions,omitempty"`
}

func (s *Server) writeResponse(w http.ResponseWriter, media string, status int, resp *graphql.Response) {
	if resp == nil {
		resp = &graphql.Response{Errors: gqlerror.List{requestError(string(domain.CodeInternal), "internal error")}}
	}
	b, err := encodeResponse(resp)
	if err != nil {
		s.log.Error("encoding a GraphQL response", "err", err)
		b, status = []byte(`{"errors":[{"message":"internal error","extensions":{"code":"INTERNAL"}}]}`), http.StatusInternalServerError
	}
	h := w.Header()
	h.Set("Content-Type", media+"; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// encodeResponse is json.Marshal of resp as a wireResponse, byte for byte,
// without encoding/json reading the data again: gqlgen writes it as
// compact JSON, and json.Marshal would only check and copy it (a tenth of
// a queue page's time outside the store), unless it holds a character that
// json.Marshal escapes for HTML (<, >, &, U+2028, U+2029), when the data
// goes through json.Marshal as before.
func encodeResponse(resp *graphql.Response) ([]byte, error) {
	data := resp.Data
	if len(data) == 0 || bytes.ContainsAny(data, "<>&") || bytes.Contains(data, lineSeparator) || bytes.Contains(data, paragraphSeparator) {
		return json.Marshal(wireResponse{Errors: resp.Errors, Data: data, Extensions: resp.Extensions})
	}
	b := make([]byte, 0, len(data)+64)
	b = append(b, '{')
	if len(resp.Errors) > 0 {
		errs, err := json.Marshal(resp.Errors)
		if err != nil {
			return nil, err
		}
		b = append(append(append(b, `"errors":`...), errs...), ',')
	}
	b = append(append(b, `"data":`...), data...)
	if len(resp.Extensions) > 0 {
		ext, err := json.Marshal(resp.Extensions)
		if err != nil {
			return nil, err
		}
		b = append(append(b, `,"extensions":`...), ext...)
	}
	return append(b, '}'), nil
}

// U+2028 and U+2029 in UTF-8, which json.Marshal escapes.
var lineSeparator, paragraphSeparator = []byte("\u2028"), []byte("\u2029")

// largeBody is the size past which decoding a body waits at the cost gate:
// real operations with their variables are far smaller.
const largeBody = 16 << 10

// codeBadRequest is the code of a request the HTTP layer refuses (method,
// media type, body): like any other input the caller got wrong.
const codeBadRequest = string(domain.CodeInvalid)
