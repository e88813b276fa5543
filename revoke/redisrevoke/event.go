package redisrevoke

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/siojwt/siojwt/revoke"
)

// event is the JSON form of a revocation on the event channel.
type event struct {
	JTI     string    `json:"jti,omitempty"`
	Subject string    `json:"sub,omitempty"`
	Before  time.Time `json:"before,omitzero"`
	Expires time.Time `json:"exp,omitzero"`
}

// encodeEvent returns the JSON event for r.
func encodeEvent(r revoke.Revocation) (string, error) {
	b, err := json.Marshal(event{JTI: r.JTI, Subject: r.Subject, Before: r.Before, Expires: r.Expires})
	return string(b), err
}

// decodeEvent parses an event and checks that it names exactly one token ID
// or subject, and no Before for a token ID. A subject event without
// "before" matches every token of the subject.
func decodeEvent(payload string) (revoke.Revocation, error) {
	var e event
	if err := json.Unmarshal([]byte(payload), &e); err != nil {
		return revoke.Revocation{}, err
	}
	r := revoke.Revocation{JTI: e.JTI, Subject: e.Subject, Before: e.Before, Expires: e.Expires}
	switch {
	case r.JTI == "" && r.Subject == "":
		return r, fmt.Errorf("%w: neither jti nor sub", revoke.ErrInvalid)
	case r.JTI != "" && r.Subject != "":
		return r, fmt.Errorf("%w: both jti and sub", revoke.ErrInvalid)
	case r.JTI != "" && !r.Before.IsZero():
		return r, fmt.Errorf("%w: before on a jti event", revoke.ErrInvalid)
	}
	return r, nil
}
