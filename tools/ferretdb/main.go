// Command ferretdb runs FerretDB on SQLite for the MongoDB store's tests: a
// real server speaking the MongoDB wire protocol, on a port of its own. It is
// its own module so that FerretDB's dependencies stay out of Switchboard's,
// and it is never part of the production binary.
//
// Usage: ferretdb -listen 127.0.0.1:0 -dir DIR
// It prints "listening on HOST:PORT" once it accepts connections.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	dir := flag.String("dir", "", "directory of the SQLite files")
	flag.Parse()
	if *dir == "" {
		log.Fatal("-dir is required")
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		log.Fatal(err)
	}
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: *listen},
		Handler:   "sqlite",
		SQLiteURL: "file:" + abs + "/",
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	done := make(chan struct{})
	go func() {
		f.Run(ctx)
		close(done)
	}()
	fmt.Println("listening on", f.MongoDBURI())
	<-done
}
