// Command emit broadcasts one event through Redis with the server library's
// Redis emitter, as a worker process that runs no Socket.IO server would:
//
//	emit -redis redis://127.0.0.1:6379/0 [-key socket.io] [-nsp /] [-room R] EVENT [ARG...]
//
// The tests of package cluster run it to check what such broadcasts reach.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/redis/go-redis/v9"
	sioredis "github.com/zishang520/socket.io/adapters/redis/v3"
	"github.com/zishang520/socket.io/adapters/redis/v3/emitter"
	"github.com/zishang520/socket.io/servers/socket/v3"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "emit:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("emit", flag.ContinueOnError)
	url := fs.String("redis", "", "Redis URL")
	key := fs.String("key", "socket.io", "the adapters' key")
	nsp := fs.String("nsp", "/", "namespace")
	room := fs.String("room", "", "room (default: the whole namespace)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *url == "" || fs.NArg() == 0 {
		return fmt.Errorf("usage: emit -redis URL [-key K] [-nsp N] [-room R] EVENT [ARG...]")
	}
	opt, err := redis.ParseURL(*url)
	if err != nil {
		return err
	}
	client := redis.NewClient(opt)
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	opts := emitter.DefaultEmitterOptions()
	opts.SetKey(*key)
	e := emitter.NewEmitter(sioredis.NewRedisClient(ctx, client), opts, *nsp)
	ev := fs.Arg(0)
	var rest []any
	for _, a := range fs.Args()[1:] {
		rest = append(rest, a)
	}
	if *room != "" {
		return e.To(socket.Room(*room)).Emit(ev, rest...)
	}
	return e.Emit(ev, rest...)
}
