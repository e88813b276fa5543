package cluster

import (
	"errors"
	"fmt"
	"slices"

	"github.com/zishang520/socket.io/adapters/adapter/v3"
	sioredis "github.com/zishang520/socket.io/adapters/redis/v3"
	"github.com/zishang520/socket.io/parsers/socket/v3/parser"
)

// errNotEvent is what a relayed packet that is not an event gets.
var errNotEvent = errors.New("the packet is not an event")

// checkedParser decodes the adapter's messages with inner, and logs and
// refuses the ones that do not decode or whose packet is not an event: a
// broadcast only ever relays events. The Redis adapter drops a message
// whose decoding fails, without a word.
type checkedParser struct {
	inner sioredis.Parser
	owner *Adapter // counts and logs what is dropped
}

// Encode encodes with the inner parser.
func (p *checkedParser) Encode(v any) ([]byte, error) { return p.inner.Encode(v) }

// Decode decodes data into v and checks the result.
func (p *checkedParser) Decode(data []byte, v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic while decoding: %v", r)
		}
		if err != nil {
			p.owner.drop("that does not decode", len(data), err)
		}
	}()
	if len(data) > maxMessageBytes {
		return fmt.Errorf("over %d bytes", maxMessageBytes)
	}
	if err := p.inner.Decode(data, v); err != nil {
		return err
	}
	if err := check(v); err != nil {
		return err
	}
	isolate(v)
	return nil
}

// isolate adds pendingRoom to the Except list of a decoded broadcast, or
// of a request that carries a packet (a broadcast with acknowledgements):
// whoever published it, it reaches no socket that has not authenticated.
func isolate(v any) {
	var opts **adapter.PacketOptions
	switch m := v.(type) {
	case **sioredis.RedisPacket:
		opts = &(*m).Opts
	case **sioredis.RedisRequest:
		if (*m).Packet == nil {
			return
		}
		opts = &(*m).Opts
	default:
		return
	}
	if *opts == nil {
		*opts = &adapter.PacketOptions{}
	}
	if !slices.Contains((*opts).Except, pendingRoom) {
		(*opts).Except = append((*opts).Except, pendingRoom)
	}
}

// check refuses decoded messages that the adapter would choke on or that
// no server sends.
func check(v any) error {
	switch m := v.(type) {
	case **sioredis.RedisPacket:
		if *m == nil || (*m).Packet == nil {
			return errors.New("a broadcast without a packet")
		}
		return checkEvent((*m).Packet)
	case **sioredis.RedisRequest:
		if *m == nil {
			return errors.New("an empty request")
		}
		if (*m).Packet != nil {
			return checkEvent((*m).Packet)
		}
	case **sioredis.RedisResponse:
		if *m == nil {
			return errors.New("an empty response")
		}
	}
	return nil
}

// checkEvent accepts an event packet: type EVENT or BINARY_EVENT, data a
// list that starts with the event name.
func checkEvent(p *parser.Packet) error {
	if p.Type != parser.EVENT && p.Type != parser.BINARY_EVENT {
		return fmt.Errorf("%w: type %d", errNotEvent, p.Type)
	}
	data, ok := p.Data.([]any)
	if !ok || len(data) == 0 {
		return fmt.Errorf("%w: data is not a list", errNotEvent)
	}
	if _, ok := data[0].(string); !ok {
		return fmt.Errorf("%w: no event name", errNotEvent)
	}
	return nil
}
