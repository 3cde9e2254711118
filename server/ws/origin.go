package ws

import (
	"net/url"
	"strings"
)

// LoopbackHost reports whether host, a Host header (host[:port]), names
// this machine: 127.0.0.1, [::1] or localhost (in any case), with or
// without a port.
func LoopbackHost(host string) bool {
	name := host
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.HasSuffix(host, "]") {
		name = host[:i]
		if port := host[i+1:]; port == "" || len(port) > 5 || strings.Trim(port, "0123456789") != "" {
			return false
		}
	}
	return name == "127.0.0.1" || name == "[::1]" || strings.EqualFold(name, "localhost")
}

// loopbackOrigin reports whether origin, an Origin header, is a page served
// from this machine: http or https on a LoopbackHost.
func loopbackOrigin(origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" {
		return false
	}
	return LoopbackHost(u.Host)
}
