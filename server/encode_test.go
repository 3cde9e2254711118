package server

import (
	"encoding/json"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// encodeResponse writes what json.Marshal of the wireResponse writes, byte
// for byte, whatever the data, errors and extensions.
func TestEncodeResponseIsJSONMarshal(t *testing.T) {
	datas := []string{``, `null`, `{}`, `{"me":{"id":"ag-1","name":"Ben"}}`,
		`{"a":"x < y","b":[1,2.5,-3e10,true,false,null]}`, `{"a":"fish & chips"}`, `{"a":"\u2028 and \u2029"}`,
		`{"a":"caf\u00e9 \u65e5\u672c \ud83d\ude00","b":"quote \" backslash \\ tab \t"}`, `{"a":">"}`}
	errs := [][]*gqlerror.Error{nil, {{Message: "no <b>", Path: ast.Path{ast.PathName("me")}, Extensions: map[string]any{"code": "INVALID"}}}}
	exts := []map[string]any{nil, {"cost": 3, "note": "a & b"}}
	for _, d := range datas {
		for _, e := range errs {
			for _, x := range exts {
				resp := &graphql.Response{Data: json.RawMessage(d), Errors: e, Extensions: x}
				want, wantErr := json.Marshal(wireResponse{Errors: e, Data: resp.Data, Extensions: x})
				got, err := encodeResponse(resp)
				if (err != nil) != (wantErr != nil) || string(got) != string(want) {
					t.Errorf("data %s, errors %v, extensions %v:\n got %s (%v)\nwant %s (%v)", d, e, x, got, err, want, wantErr)
				}
			}
		}
	}
}
