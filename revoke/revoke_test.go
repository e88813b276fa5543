package revoke

import (
	"errors"
	"testing"
	"time"
)

// epoch is the fixed "now" of the tests.
func epoch() time.Time { return time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC) }

func TestRevocationMatches(t *testing.T) {
	t0 := epoch()
	tests := []struct {
		name  string
		r     Revocation
		token Token
		want  bool
	}{
		{name: "same jti", r: Revocation{JTI: "a"}, token: Token{JTI: "a"}, want: true},
		{name: "other jti", r: Revocation{JTI: "a"}, token: Token{JTI: "b"}, want: false},
		{name: "token without jti", r: Revocation{JTI: "a"}, token: Token{Subject: "a"}, want: false},
		{name: "jti revocation ignores subject", r: Revocation{JTI: "a"}, token: Token{JTI: "a", Subject: "s", IssuedAt: t0}, want: true},
		{name: "subject issued before", r: Revocation{Subject: "s", Before: t0}, token: Token{Subject: "s", IssuedAt: t0.Add(-time.Second)}, want: true},
		{name: "subject issued a nanosecond before", r: Revocation{Subject: "s", Before: t0}, token: Token{Subject: "s", IssuedAt: t0.Add(-time.Nanosecond)}, want: true},
		{name: "subject issued at Before", r: Revocation{Subject: "s", Before: t0}, token: Token{Subject: "s", IssuedAt: t0}, want: false},
		{name: "subject issued after", r: Revocation{Subject: "s", Before: t0}, token: Token{Subject: "s", IssuedAt: t0.Add(time.Second)}, want: false},
		{name: "subject token without iat", r: Revocation{Subject: "s", Before: t0}, token: Token{Subject: "s"}, want: true},
		{name: "subject zero Before", r: Revocation{Subject: "s"}, token: Token{Subject: "s", IssuedAt: t0}, want: true},
		{name: "other subject", r: Revocation{Subject: "s", Before: t0}, token: Token{Subject: "t", IssuedAt: t0.Add(-time.Hour)}, want: false},
		{name: "subject revocation ignores jti", r: Revocation{Subject: "s", Before: t0}, token: Token{JTI: "s", IssuedAt: t0.Add(-time.Hour)}, want: false},
		{name: "empty revocation", r: Revocation{}, token: Token{}, want: false},
		{name: "empty revocation, empty token identifiers", r: Revocation{Before: t0}, token: Token{IssuedAt: t0.Add(-time.Hour)}, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.r.Matches(tt.token); got != tt.want {
				t.Errorf("%+v.Matches(%+v) = %v, want %v", tt.r, tt.token, got, tt.want)
			}
		})
	}
}

func TestRevocationNormalize(t *testing.T) {
	t0 := epoch()
	const life = 10 * time.Hour
	tests := []struct {
		name     string
		r        Revocation
		lifetime time.Duration
		want     Revocation
		wantErr  bool
	}{
		{name: "jti without expiry", r: Revocation{JTI: "a"}, lifetime: life, wantErr: true},
		{name: "jti forever", r: JTI("a", Forever), lifetime: life, want: Revocation{JTI: "a", Expires: Forever}},
		{name: "jti explicit expiry", r: Revocation{JTI: "a", Expires: t0.Add(time.Minute)}, lifetime: life, want: Revocation{JTI: "a", Expires: t0.Add(time.Minute)}},
		{name: "subject defaults", r: Revocation{Subject: "s"}, lifetime: life, want: Revocation{Subject: "s", Before: t0, Expires: t0.Add(life)}},
		{name: "subject past Before", r: Revocation{Subject: "s", Before: t0.Add(-time.Hour)}, lifetime: life, want: Revocation{Subject: "s", Before: t0.Add(-time.Hour), Expires: t0.Add(life - time.Hour)}},
		{name: "subject explicit expiry", r: Revocation{Subject: "s", Expires: t0.Add(time.Hour)}, lifetime: life, want: Revocation{Subject: "s", Before: t0, Expires: t0.Add(time.Hour)}},
		// Tokens may expire up to year 275760 (core.MaxNumericDate); stores
		// record nothing later than Forever.
		{name: "jti past Forever", r: JTI("a", time.Unix(1e12, 0)), lifetime: life, want: Revocation{JTI: "a", Expires: Forever}},
		{name: "subject Before past Forever", r: Revocation{Subject: "s", Before: time.Unix(1e12, 0)}, lifetime: life, want: Revocation{Subject: "s", Before: Forever, Expires: Forever}},
		{name: "subject expiry past Forever", r: Revocation{Subject: "s", Expires: Forever.Add(time.Second)}, lifetime: life, want: Revocation{Subject: "s", Before: t0, Expires: Forever}},
		{name: "subject Before near Forever", r: Revocation{Subject: "s", Before: Forever.Add(-time.Hour)}, lifetime: life, want: Revocation{Subject: "s", Before: Forever.Add(-time.Hour), Expires: Forever}},
		{name: "neither", r: Revocation{}, lifetime: life, wantErr: true},
		{name: "both", r: Revocation{JTI: "a", Subject: "s"}, lifetime: life, wantErr: true},
		{name: "jti with Before", r: Revocation{JTI: "a", Before: t0}, lifetime: life, wantErr: true},
		{name: "zero lifetime", r: Revocation{Subject: "s"}, lifetime: 0, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.r.Normalize(t0, tt.lifetime)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("Normalize(%+v) error = %v, want ErrInvalid", tt.r, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Normalize(%+v): %v", tt.r, err)
			}
			if got != tt.want {
				t.Errorf("Normalize(%+v) = %+v, want %+v", tt.r, got, tt.want)
			}
		})
	}
}

func TestForToken(t *testing.T) {
	t0 := epoch()
	tests := []struct {
		name   string
		token  Token
		leeway time.Duration
		want   Revocation
	}{
		{name: "exp plus leeway", token: Token{JTI: "a", Subject: "s", IssuedAt: t0, ExpiresAt: t0.Add(72 * time.Hour)}, leeway: time.Minute, want: Revocation{JTI: "a", Expires: t0.Add(72*time.Hour + time.Minute)}},
		{name: "no leeway", token: Token{JTI: "a", ExpiresAt: t0}, want: Revocation{JTI: "a", Expires: t0}},
		{name: "negative leeway ignored", token: Token{JTI: "a", ExpiresAt: t0}, leeway: -time.Hour, want: Revocation{JTI: "a", Expires: t0}},
		{name: "no exp", token: Token{JTI: "a", Subject: "s"}, leeway: time.Minute, want: Revocation{JTI: "a", Expires: Forever}},
		// A verifier accepts a token until the second after a fractional
		// exp (plus leeway) begins: the revocation must last as long.
		{name: "fractional exp", token: Token{JTI: "a", ExpiresAt: t0.Add(500 * time.Millisecond)}, want: Revocation{JTI: "a", Expires: t0.Add(time.Second)}},
		{name: "fractional leeway", token: Token{JTI: "a", ExpiresAt: t0}, leeway: 1500 * time.Millisecond, want: Revocation{JTI: "a", Expires: t0.Add(2 * time.Second)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ForToken(tt.token, tt.leeway); got != tt.want {
				t.Errorf("ForToken(%+v, %v) = %+v, want %+v", tt.token, tt.leeway, got, tt.want)
			}
		})
	}
	if _, err := ForToken(Token{Subject: "s", ExpiresAt: t0}, 0).Normalize(t0, time.Hour); !errors.Is(err, ErrInvalid) {
		t.Errorf("revocation of a token without jti: error = %v, want ErrInvalid", err)
	}
}
