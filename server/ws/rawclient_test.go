package ws_test

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"switchboard/internal/wsclient"
)

// rawClient is a WebSocket client written on a bare TCP connection: it does
// only what the test says, so it can play a peer that never answers a ping,
// or one that vanishes without a close frame. Its messages are the shared
// client's (internal/wsclient); only the framing is its own.
type rawClient struct {
	conn net.Conn
	br   *bufio.Reader
}

const (
	opText  = 0x1
	opClose = 0x8
	opPing  = 0x9
	opPong  = 0xA
)

type frame struct {
	opcode  byte
	payload []byte
}

// closeStatus returns the code and reason of a close frame.
func (f frame) closeStatus() (int, string) {
	if len(f.payload) < 2 {
		return 0, ""
	}
	return int(binary.BigEndian.Uint16(f.payload)), string(f.payload[2:])
}

// dialTCP upgrades a bare TCP connection to graphql-transport-ws and sends
// connection_init with token.
func dialTCP(t *testing.T, e *env, token string) *rawClient {
	t.Helper()
	addr := e.ts.Listener.Addr().String()
	conn, err := net.DialTimeout("tcp", addr, wait)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	var key [16]byte
	_, _ = rand.Read(key[:])
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/graphql", nil)
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", base64.StdEncoding.EncodeToString(key[:]))
	req.Header.Set("Sec-WebSocket-Protocol", wsclient.TransportWS)
	conn.SetDeadline(time.Now().Add(wait))
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %s", resp.Status)
	}
	conn.SetDeadline(time.Time{})
	c := &rawClient{conn: conn, br: br}
	c.write(t, opText, wsclient.JSON(wsclient.Message{Type: "connection_init", Payload: wsclient.JSON(map[string]any{"token": token})}))
	return c
}

// write sends one masked frame.
func (c *rawClient) write(t *testing.T, opcode byte, payload []byte) {
	t.Helper()
	c.conn.SetWriteDeadline(time.Now().Add(wait))
	if err := c.send(opcode, payload); err != nil {
		t.Fatalf("rawClient write: %v", err)
	}
}

func (c *rawClient) send(opcode byte, payload []byte) error {
	var mask [4]byte
	_, _ = rand.Read(mask[:])
	b := []byte{0x80 | opcode}
	switch n := len(payload); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n < 1<<16:
		b = append(b, 0x80|126, byte(n>>8), byte(n))
	default:
		return errors.New("rawClient: frame too large")
	}
	b = append(b, mask[:]...)
	for i, x := range payload {
		b = append(b, x^mask[i%4])
	}
	_, err := c.conn.Write(b)
	return err
}

// readFrame reads one frame from the server, failing t if none comes
// within the time given.
func (c *rawClient) readFrame(t *testing.T, within time.Duration) frame {
	t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(within))
	f, err := c.next()
	if err != nil {
		t.Fatalf("rawClient read: %v", err)
	}
	return f
}

// next reads one (unmasked, unfragmented) frame.
func (c *rawClient) next() (frame, error) {
	var h [2]byte
	if _, err := io.ReadFull(c.br, h[:]); err != nil {
		return frame{}, err
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var ext [2]byte
		if _, err := io.ReadFull(c.br, ext[:]); err != nil {
			return frame{}, err
		}
		n = uint64(binary.BigEndian.Uint16(ext[:]))
	case 127:
		var ext [8]byte
		if _, err := io.ReadFull(c.br, ext[:]); err != nil {
			return frame{}, err
		}
		n = binary.BigEndian.Uint64(ext[:])
	}
	if n > 1<<20 {
		return frame{}, errors.New("rawClient: frame too large")
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(c.br, p); err != nil {
		return frame{}, err
	}
	return frame{opcode: h[0] & 0x0f, payload: p}, nil
}
