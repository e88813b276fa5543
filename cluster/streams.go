package cluster

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/vmihailenco/msgpack/v5"
	cadapter "github.com/zishang520/socket.io/adapters/adapter/v3"
	"github.com/zishang520/socket.io/adapters/redis/v3/adapter"
	"github.com/zishang520/socket.io/servers/socket/v3"
)

// Bounds of the Streams adapter's reading.
const (
	streamReadCount = 100             // entries per XREAD
	streamBlock     = 5 * time.Second // how long one XREAD waits for entries
	// maxMessageBytes bounds one message from Redis: larger ones are
	// dropped, whatever they hold.
	maxMessageBytes = 1 << 20
)

// streamsOptions returns the Streams adapter's options for key.
func streamsOptions(key string) *adapter.RedisStreamsAdapterOptions {
	o := adapter.DefaultRedisStreamsAdapterOptions()
	o.SetStreamName(key)
	o.SetStreamCount(1)
	o.SetChannelPrefix(key)
	o.SetMaxLen(DefaultStreamMaxLen)
	o.SetReadCount(streamReadCount)
	o.SetBlockTimeInMs(streamBlock.Milliseconds())
	o.SetSessionKeyPrefix(key + ":session:")
	o.SetHeartbeatInterval(5_000)
	o.SetHeartbeatTimeout(10_000)
	return o
}

// newStreamsAdapter returns the Streams adapter of nsp, read by the
// Adapter's own loop (pollStream) instead of the library's builder, so
// that every entry is checked before it is applied.
func (a *Adapter) newStreamsAdapter(nsp socket.Namespace) socket.Adapter {
	sa := adapter.NewRedisStreamsAdapter(nsp, a.redis, a.sopts)
	name := nsp.Name()
	a.mu.Lock()
	a.streams[name] = sa
	start := !a.polling && !a.closed
	a.polling = a.polling || start
	a.mu.Unlock()
	sa.Cleanup(func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.streams[name] == sa {
			delete(a.streams, name)
		}
	})
	if start {
		a.wg.Add(1)
		go a.pollStream(a.ctx, a.redis.Sub(), a.key)
	}
	return sa
}

// pollStream reads the stream from its end at start, then from the last
// entry read, until ctx ends. After a Redis error it reads again from the
// same entry: a server cut off from Redis catches up on what was added
// meanwhile, as far as the stream keeps it.
func (a *Adapter) pollStream(ctx context.Context, client redis.UniversalClient, stream string) {
	defer a.wg.Done()
	offset := "$"
	resumed := false // the last read failed: check the stream still holds what follows offset
	for ctx.Err() == nil {
		if resumed && offset != "$" {
			if lost, ok := a.trimmedPast(ctx, client, stream, offset); ok {
				resumed = false
				if lost {
					a.log.Warn("cluster: the stream was trimmed past the last entry this server read; "+
						"broadcasts made meanwhile were lost for its sockets", "stream", stream, "last_read", offset)
				}
			}
		}
		res, err := client.XRead(ctx, &redis.XReadArgs{
			Streams: []string{stream},
			ID:      offset,
			Count:   streamReadCount,
			Block:   streamBlock,
		}).Result()
		if err != nil {
			if errors.Is(err, redis.Nil) || ctx.Err() != nil {
				continue
			}
			a.onError(fmt.Errorf("reading the stream %q: %w", stream, err))
			resumed = true
			t := time.NewTimer(minReconnectDelay)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
			continue
		}
		for _, s := range res {
			for _, entry := range s.Messages {
				offset = entry.ID
				a.applyEntry(entry)
			}
		}
	}
}

// trimmedPast reports whether entries after offset may have been removed
// from the stream (ok is false when Redis did not answer): the largest
// removed ID is after offset (Redis 7), or the first entry is.
func (a *Adapter) trimmedPast(ctx context.Context, client redis.UniversalClient, stream, offset string) (lost, ok bool) {
	ctx, cancel := context.WithTimeout(ctx, DefaultPublishTimeout)
	defer cancel()
	info, err := client.XInfoStream(ctx, stream).Result()
	if err != nil {
		if strings.Contains(err.Error(), "no such key") {
			return true, true // gone: Redis restarted empty, or the key was deleted
		}
		return false, false
	}
	last, ok1 := parseID(offset)
	if deleted, ok2 := parseID(info.MaxDeletedEntryID); ok1 && ok2 && last.less(deleted) {
		return true, true
	}
	first, ok2 := parseID(info.FirstEntry.ID)
	return ok1 && ok2 && last.less(first), true
}

// entryID is the ID of a stream entry, "<ms>-<seq>".
type entryID struct{ ms, seq uint64 }

func parseID(v string) (entryID, bool) {
	ms, seq, ok := strings.Cut(v, "-")
	if !ok {
		return entryID{}, false
	}
	a, err1 := strconv.ParseUint(ms, 10, 64)
	b, err2 := strconv.ParseUint(seq, 10, 64)
	return entryID{a, b}, err1 == nil && err2 == nil
}

func (id entryID) less(o entryID) bool {
	return id.ms < o.ms || (id.ms == o.ms && id.seq < o.seq)
}

// applyEntry checks one stream entry, excludes pending sockets from a
// broadcast, and hands it to its namespace's adapter. An entry that fails a
// check is dropped and counted, never applied.
func (a *Adapter) applyEntry(entry redis.XMessage) {
	msg := adapter.RawClusterMessage(entry.Values)
	size := 0
	for k, v := range msg {
		s, ok := v.(string)
		if !ok {
			a.drop("that does not decode (a stream entry with a field not a string)", 0, fmt.Errorf("field %q", k))
			return
		}
		size += len(k) + len(s)
	}
	if size > maxMessageBytes {
		a.drop("that does not decode (a stream entry too large)", size, fmt.Errorf("over %d bytes", maxMessageBytes))
		return
	}
	typ, err := strconv.Atoi(msg.Type())
	if err != nil || msg.Uid() == "" {
		a.drop("that does not decode (a stream entry without uid or type)", size, fmt.Errorf("type %q", msg.Type()))
		return
	}
	if cadapter.MessageType(typ) == cadapter.BROADCAST {
		data, err := isolateBroadcastData(msg.Data())
		if err != nil {
			a.drop("that does not decode (a stream broadcast)", size, err)
			return
		}
		msg["data"] = data
	}
	a.mu.Lock()
	sa, ok := a.streams[msg.Nsp()]
	a.mu.Unlock()
	if !ok {
		a.drop("for a namespace this server does not have", size, fmt.Errorf("namespace %q", msg.Nsp()))
		return
	}
	if err := sa.OnRawMessage(msg, entry.ID); err != nil {
		a.drop("that does not decode (a stream entry)", size, err)
	}
}

// isolateBroadcastData adds pendingRoom to the Except list of the data of
// a BROADCAST entry: JSON, or MessagePack in base64 when the packet holds
// binary. The other fields are kept as they are. A broadcast without a
// packet is refused.
func isolateBroadcastData(data string) (string, error) {
	if data == "" {
		return "", errors.New("no data")
	}
	if data[0] == '{' {
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(data), &m); err != nil {
			return "", err
		}
		if len(m["packet"]) == 0 || string(m["packet"]) == "null" {
			return "", errors.New("a broadcast without a packet")
		}
		var opts map[string]json.RawMessage
		if raw, ok := m["opts"]; ok && string(raw) != "null" {
			if err := json.Unmarshal(raw, &opts); err != nil {
				return "", fmt.Errorf("opts: %w", err)
			}
		}
		if opts == nil {
			opts = map[string]json.RawMessage{}
		}
		var except []string
		if raw, ok := opts["except"]; ok && string(raw) != "null" {
			if err := json.Unmarshal(raw, &except); err != nil {
				return "", fmt.Errorf("opts.except: %w", err)
			}
		}
		if !slices.Contains(except, string(pendingRoom)) {
			except = append(except, string(pendingRoom))
		}
		var err error
		if opts["except"], err = json.Marshal(except); err != nil {
			return "", err
		}
		if m["opts"], err = json.Marshal(opts); err != nil {
			return "", err
		}
		b, err := json.Marshal(m)
		return string(b), err
	}
	raw, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		return "", err
	}
	var m map[string]msgpack.RawMessage
	if err := msgpack.Unmarshal(raw, &m); err != nil {
		return "", err
	}
	if len(m["packet"]) == 0 || m["packet"][0] == 0xc0 { // nil
		return "", errors.New("a broadcast without a packet")
	}
	var opts map[string]msgpack.RawMessage
	if r, ok := m["opts"]; ok {
		if err := msgpack.Unmarshal(r, &opts); err != nil {
			return "", fmt.Errorf("opts: %w", err)
		}
	}
	if opts == nil {
		opts = map[string]msgpack.RawMessage{}
	}
	var except []string
	if r, ok := opts["except"]; ok {
		if err := msgpack.Unmarshal(r, &except); err != nil {
			return "", fmt.Errorf("opts.except: %w", err)
		}
	}
	if !slices.Contains(except, string(pendingRoom)) {
		except = append(except, string(pendingRoom))
	}
	if opts["except"], err = msgpack.Marshal(except); err != nil {
		return "", err
	}
	if m["opts"], err = msgpack.Marshal(opts); err != nil {
		return "", err
	}
	b, err := msgpack.Marshal(m)
	return base64.StdEncoding.EncodeToString(b), err
}
