package interop_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"testing"

	"switchboard/internal/testserver"
)

// requireNode returns node's path; without node or interop/node_modules
// the test is skipped, or fails under CI.
func requireNode(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat("node_modules")
	}
	testserver.Require(t, err, "node and interop/node_modules (run npm ci in interop/)")
	return node
}

// poster returns a function that posts a GraphQL request to srv with a
// token and decodes its data into out (when not nil), failing t on any
// error: what the Go side of an interop test uses to set the scene and
// check what the Node client left.
func poster(t *testing.T, srv *testserver.Server) func(tok, query string, vars map[string]any, out any) {
	client := &http.Client{}
	t.Cleanup(client.CloseIdleConnections)
	url := srv.URL + "/graphql"
	return func(tok, query string, vars map[string]any, out any) {
		t.Helper()
		body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var r struct {
			Data   json.RawMessage
			Errors []any
		}
		if json.Unmarshal(raw, &r) != nil || len(r.Errors) > 0 {
			t.Fatalf("%s => HTTP %d %s", query, resp.StatusCode, raw)
		}
		if out != nil {
			if err := json.Unmarshal(r.Data, out); err != nil {
				t.Fatal(err)
			}
		}
	}
}
