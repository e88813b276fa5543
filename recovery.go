package siojwt

import (
	"time"

	"github.com/siojwt/siojwt/core"
	"github.com/zishang520/socket.io/servers/socket/v3"
)

// recoveryKey names a socket across connection-state recovery: the server
// library restores a socket with the same ID in the same namespace.
func recoveryKey(s *socket.Socket) string {
	return s.Nsp().Name() + "\x00" + string(s.Id())
}

// rememberForRecovery keeps the authentication of a socket that went away
// for a reason the server library may recover from (it persisted the
// socket), for as long as it would.
func (a *Auth) rememberForRecovery(s *socket.Socket, res *core.Result) {
	key := recoveryKey(s)
	a.recent.Store(key, res)
	a.clock.AfterFunc(recoveryWindow(a.server), func() { a.recent.CompareAndDelete(key, res) })
}

func recoveryWindow(srv *socket.Server) time.Duration {
	if r := srv.Opts().ConnectionStateRecovery(); r != nil && r.MaxDisconnectionDuration() > 0 {
		return time.Duration(r.MaxDisconnectionDuration()) * time.Millisecond
	}
	return 2 * time.Minute
}

// recovered re-checks a socket restored by connection-state recovery,
// which the server library lets in without running middlewares. A token in
// the reconnect handshake (a client with an auth callback sends a fresh
// one) is verified and must be for the same subject; without one, the
// authentication the socket had before it dropped is checked again.
func (a *Auth) recovered(ss *session) {
	// Forgotten once the check has ended, not before: a socket whose
	// connection drops again during its check is recovered again with the
	// same identity to match.
	key := recoveryKey(ss.s)
	var prev *core.Result
	gone := false // the socket went away during its check
	if v, ok := a.recent.Load(key); ok {
		prev = v.(*core.Result)
		defer func() {
			if !gone {
				a.recent.CompareAndDelete(key, v)
			}
		}()
	}
	mark := a.revoked.mark()
	var res *core.Result
	err := safely(func() error {
		hs := ss.handshake()
		tok, err := ss.ns.verifier.Extract(hs)
		if err == nil {
			if res, err = a.verify(a.ctx, ss.ns.verifier, tok, hs); err != nil {
				return err
			}
			if prev != nil {
				return sameIdentity(prev.Claims, res.Claims)
			}
			return nil
		}
		if prev == nil {
			if ss.ns.mode == ModeHandshake {
				return err
			}
			return nil // post-connect mode: pending again, below
		}
		res = prev
		if err := ss.ns.verifier.VerifyClaims(res.Claims); err != nil {
			return err
		}
		return a.checkRevoked(a.ctx, res.Claims)
	})
	if err != nil {
		ss.cut(EventRejected, prev, core.AsError(err))
		return
	}
	hold, isolated := held(ss.s)
	if res == nil { // post-connect mode, nothing known: pending again
		if isolated {
			// Back in its rooms, still pending; what it missed is not
			// for a socket that has not authenticated.
			hold.restoreRooms(ss.s)
			hold.dropHold(ss.s.Id())
		}
		ss.s.Join(PendingRoom)
		if !ss.ns.optional {
			ss.mu.Lock()
			ss.armTimeoutLocked()
			ss.mu.Unlock()
		}
		return
	}
	if isolated {
		hold.restoreRooms(ss.s) // for the room check that follows
	}
	if !ss.authorizeRecovered(res) {
		return
	}
	ss.mu.Lock()
	if !ss.liveLocked() {
		// Gone (or cut) during its check: nothing to authenticate, and
		// no "authenticated" to report after its "closed".
		gone = ss.state != stateCutting
		ss.mu.Unlock()
		return
	}
	ss.advanceLocked(stateAuthenticated)
	ss.res, ss.at = res, a.clock.Now().UnixNano()
	ss.scheduleLocked()
	ss.mu.Unlock()
	if e := a.revokedSince(mark, res.Claims); e != nil {
		ss.cut(revokedKind(e), res, e)
		return
	}
	// Checked: the packets it missed, then out of PendingRoom.
	if isolated {
		hold.deliverHeld(ss.s)
	} else {
		ss.s.Leave(PendingRoom)
	}
	ss.announce(ss.event(EventAuthenticated, "", res, 0, nil))
}
