package ws

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
)

// socketBufferBytes is the size of each of a socket's read and write
// buffers, in place of the 4 KiB each that the HTTP server's connection
// had. A socket spends most of its life idle, holding both; the messages
// it reads (connection_init, subscribe) are a few hundred bytes, and a
// larger one, read or written, goes past the buffer rather than through
// it. At ten thousand sockets the difference is 60 MiB.
const socketBufferBytes = 1 << 10

// smallBuffers hands the WebSocket library the hijacked connection with
// smaller buffers than the HTTP server's (socketBufferBytes).
type smallBuffers struct {
	http.ResponseWriter
}

// Unwrap lets the library find what the writer wraps.
func (w smallBuffers) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Hijack hijacks the connection and moves it to small buffers: what the
// HTTP server's writer holds (the upgrade's answer) is written out first,
// and what its reader holds already (a client's first frames) goes to the
// new reader; if that does not fit, the HTTP server's buffers stay.
func (w smallBuffers) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return c, brw, err
	}
	if brw.Reader.Buffered() > socketBufferBytes {
		return c, brw, nil
	}
	if err := brw.Writer.Flush(); err != nil {
		return c, brw, err
	}
	held, _ := brw.Reader.Peek(brw.Reader.Buffered())
	r := bufio.NewReaderSize(c, socketBufferBytes)
	if len(held) > 0 {
		r.Reset(io.MultiReader(bytes.NewReader(append([]byte(nil), held...)), c))
		// Into the new buffer, where the library finds them.
		if _, err := r.Peek(len(held)); err != nil {
			return c, brw, err
		}
	}
	return c, bufio.NewReadWriter(r, bufio.NewWriterSize(c, socketBufferBytes)), nil
}
