package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/siojwt/siojwt/internal/logs"
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
	log   *slog.Logger
	drops *logs.Rate
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
			p.drop(len(data), err)
		}
	}()
	if err := p.inner.Decode(data, v); err != nil {
		return err
	}
	return check(v)
}

func (p *checkedParser) drop(size int, err error) {
	if n, ok := p.drops.Allow(time.Now()); ok {
		p.log.Warn("cluster: dropping a message from Redis that does not decode",
			"error", err.Error(), "bytes", size, "suppressed", n)
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
