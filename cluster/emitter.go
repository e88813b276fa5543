package cluster

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
	"github.com/zishang520/socket.io/adapters/adapter/v3"
	sioredis "github.com/zishang520/socket.io/adapters/redis/v3"
	"github.com/zishang520/socket.io/servers/socket/v3"
)

// pendingRoom is siojwt.PendingRoom, the room of the sockets that have not
// authenticated yet (a test checks that they match). Every broadcast that
// arrives from Redis excludes it, whoever published it.
const pendingRoom socket.Room = "siojwt:pending"

// listenToEmitters subscribes to the channel "<key>#<nsp>#", on which the
// Redis emitters (Go and Node) and Node servers publish broadcasts that
// name no single room, and applies them to the namespace's local sockets.
// The Redis adapter of the server library (v3.0.2) ignores that channel;
// the servers of this package publish those broadcasts on
// "<key>#<nsp>##" instead (see boundedClient), so nothing is applied twice.
func (n *nspAdapter) listenToEmitters() {
	a := n.owner
	ctx, cancel := context.WithCancel(a.ctx)
	channel := a.key + "#" + n.nsp.Name() + "#"
	ps := a.redis.Sub().Subscribe(ctx, channel)
	// A read in progress sees no cancellation: closing ps ends it.
	n.stop, n.done = func() { cancel(); _ = ps.Close() }, make(chan struct{})
	go func() {
		defer close(n.done)
		for {
			msg, err := ps.ReceiveMessage(ctx)
			if err != nil {
				if ctx.Err() != nil || errors.Is(err, redis.ErrClosed) {
					return
				}
				a.onError(fmt.Errorf("reading %q: %w", channel, err))
				continue
			}
			n.applyEmitted([]byte(msg.Payload))
		}
	}()
}

// applyEmitted decodes a broadcast published on the emitters' channel and
// applies it to the local sockets only, excluding pending ones.
func (n *nspAdapter) applyEmitted(payload []byte) {
	var p *sioredis.RedisPacket
	if err := n.owner.parser.Decode(payload, &p); err != nil {
		return // counted and logged by the parser
	}
	if p.Packet.Nsp == "" {
		p.Packet.Nsp = "/"
	}
	if p.Packet.Nsp != n.nsp.Name() {
		n.owner.drop("for another namespace", len(payload), fmt.Errorf("namespace %q", p.Packet.Nsp))
		return
	}
	opts := adapter.DecodeOptions(p.Opts)
	flags := socket.BroadcastFlags{}
	if opts.Flags != nil {
		flags = *opts.Flags
	}
	flags.Local = true // applied here; not published again
	opts.Flags = &flags
	n.Adapter.Broadcast(p.Packet, opts)
}
