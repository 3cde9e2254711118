package server

import (
	"slices"
	"testing"
)

func TestPageSources(t *testing.T) {
	scripts, styles, err := pageSources("<html><head><STYLE>a{}</STYLE>\n" +
		`<script src="/app.js"></script><script src="https://A.example:8443/x.js?v=1&amp;w=2"></script>` +
		`<link rel="Stylesheet" href="https://a.example:8443/x.css"><script>let a = "</scrip";` + "\r\n</script></head></html>")
	if err != nil {
		t.Fatal(err)
	}
	// The hashes are those of `a{}` and of the script's text with its CR LF as LF.
	wantScripts := []string{"'self'", "https://a.example:8443", "'sha256-k1l7qtsnH3ySanHOv6/7PddgEGZjkC3MHfoZ1WApAuc='"}
	wantStyles := []string{"'sha256-X1RutGBrXCt9KkSaXMK7tHftWiRscFHOhxsS8tv8hBk='", "https://a.example:8443"}
	if !slices.Equal(scripts, wantScripts) || !slices.Equal(styles, wantStyles) {
		t.Fatalf("scripts %q, styles %q", scripts, styles)
	}
	for _, page := range []string{
		`<link rel="icon" href="/favicon.ico">`,
		`<script src="//cdn.example/x.js"></script>`,
		`<script src="data:text/javascript,alert(1)"></script>`,
		`<script>never ends`,
	} {
		if _, _, err := pageSources(page); err == nil {
			t.Errorf("%s: no error", page)
		}
	}
}
