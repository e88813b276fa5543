package siojwt

import (
	"slices"
	"testing"

	"github.com/zishang520/socket.io/servers/socket/v3"
	"github.com/zishang520/socket.io/v3/pkg/types"
)

func rooms(rs ...socket.Room) *types.Set[socket.Room] { return types.NewSet(rs...) }

func sorted(s *types.Set[socket.Room]) []socket.Room {
	if s == nil {
		return nil
	}
	k := s.Keys()
	slices.Sort(k)
	return k
}

// TestExclude: every broadcast the isolating adapter passes on excludes
// PendingRoom, keeps the caller's rooms, exclusions and flags, and leaves
// the caller's options untouched; only a broadcast to exactly one socket
// the binding is emitting to directly goes through as it is.
func TestExclude(t *testing.T) {
	iso := &isolation{}
	iso.direct.Store(socket.SocketId("direct"), struct{}{})
	ad := &isolatingAdapter{iso: iso}
	flags := &socket.BroadcastFlags{}
	tests := []struct {
		name       string
		opts       *socket.BroadcastOptions
		same       bool // returned as is
		wantRooms  []socket.Room
		wantExcept []socket.Room
	}{
		{"nil options", nil, false, nil, []socket.Room{PendingRoom}},
		{"everyone", &socket.BroadcastOptions{Rooms: rooms()}, false, nil, []socket.Room{PendingRoom}},
		{"nil rooms", &socket.BroadcastOptions{}, false, nil, []socket.Room{PendingRoom}},
		{"one room", &socket.BroadcastOptions{Rooms: rooms("r")}, false, []socket.Room{"r"}, []socket.Room{PendingRoom}},
		{"the caller's exclusions kept", &socket.BroadcastOptions{Rooms: rooms("r"), Except: rooms("x", "y")}, false, []socket.Room{"r"}, []socket.Room{PendingRoom, "x", "y"}},
		{"PendingRoom excluded once", &socket.BroadcastOptions{Except: rooms(PendingRoom)}, false, nil, []socket.Room{PendingRoom}},
		{"to the pending room itself", &socket.BroadcastOptions{Rooms: rooms(PendingRoom)}, false, []socket.Room{PendingRoom}, []socket.Room{PendingRoom}},
		{"direct emit passes", &socket.BroadcastOptions{Rooms: rooms("direct")}, true, []socket.Room{"direct"}, nil},
		{"direct socket among others", &socket.BroadcastOptions{Rooms: rooms("direct", "r")}, false, []socket.Room{"direct", "r"}, []socket.Room{PendingRoom}},
		{"another single socket", &socket.BroadcastOptions{Rooms: rooms("other")}, false, []socket.Room{"other"}, []socket.Room{PendingRoom}},
		{"flags kept", &socket.BroadcastOptions{Rooms: rooms("r"), Flags: flags}, false, []socket.Room{"r"}, []socket.Room{PendingRoom}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before []socket.Room
			if tt.opts != nil {
				before = sorted(tt.opts.Except)
			}
			got := ad.exclude(tt.opts)
			if tt.same {
				if got != tt.opts {
					t.Fatal("a direct emit was rewritten")
				}
			} else if got == tt.opts {
				t.Fatal("the caller's options were reused, not copied")
			}
			if tt.opts != nil {
				if after := sorted(tt.opts.Except); !slices.Equal(after, before) {
					t.Fatalf("the caller's Except changed from %v to %v", before, after)
				}
				if got.Flags != tt.opts.Flags {
					t.Fatal("flags lost")
				}
			}
			if r := sorted(got.Rooms); !slices.Equal(r, tt.wantRooms) && !(len(r) == 0 && len(tt.wantRooms) == 0) {
				t.Errorf("rooms %v, want %v", r, tt.wantRooms)
			}
			if e := sorted(got.Except); !slices.Equal(e, tt.wantExcept) {
				t.Errorf("except %v, want %v", e, tt.wantExcept)
			}
		})
	}
}
