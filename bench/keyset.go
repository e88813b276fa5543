package bench

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/siojwt/siojwt/bench/loadgen"
)

// keysetCache is the verified-token cache size of the keyset part's cached
// rows.
const keysetCache = 20000

// keysetAlgs are the algorithms of the keyset part: what identity
// providers sign with.
var keysetAlgs = []string{"RS256", "ES256"}

// keysetPeers are the rows of the keyset part: the bare server, then for
// each algorithm the fixture with the public key passed directly, through
// a key set (-jwks-self), and through a key set with the verified-token
// cache. Every run reconnects its sockets after the connect phase.
func (d *driver) keysetPeers() []peer {
	fixture := filepath.Join(d.bin, "fixture")
	addr := []string{"-addr", "127.0.0.1:0"}
	peers := []peer{{key: "go-bare", label: "Go socket.io, no auth", argv: append([]string{filepath.Join(d.bin, "baresrv")}, addr...), storm: true, metrics: true}}
	for _, alg := range keysetAlgs {
		if !slices.Contains(d.algs, alg) {
			continue
		}
		base := append([]string{fixture, "-mode", "handshake", "-alg", alg}, addr...)
		k := "go-siojwt-" + strings.ToLower(alg)
		for _, r := range []struct {
			key, label string
			args       []string
		}{
			{k, alg + ", public key passed directly (`core.WithPublicKey`), no cache", nil},
			{k + "-jwks", alg + " through a key set (`jwks.New`, served over http on 127.0.0.1; `-jwks-self`), no cache", []string{"-jwks-self"}},
			{k + "-jwks-cache", fmt.Sprintf("%s through a key set, verified-token cache of %d (`core.WithVerifiedCache`)", alg, keysetCache), []string{"-jwks-self", "-verified-cache", fmt.Sprint(keysetCache)}},
		} {
			peers = append(peers, peer{key: r.key, label: r.label, argv: append(slices.Clone(base), r.args...), login: true, storm: true, metrics: true})
		}
	}
	return peers
}

func (d *driver) keyset(ctx context.Context) []*Stats {
	return d.measure(ctx, "keyset", d.keysetPeers(), d.opt.TargetReps, loadgen.Config{Conns: d.opt.Conns, Concurrency: d.opt.Concurrency, CloseWait: 100 * time.Millisecond})
}

// stormCPU is a run's server CPU per reconnection (µs; NaN without one).
func stormCPU(r *run) float64 {
	if r.Storm == nil || r.Storm.Connected == 0 {
		return math.NaN()
	}
	return us(r.Storm.CPUPerConn())
}

func stormDiff(x, y *run) float64 { return stormCPU(x) - stormCPU(y) }

// stormStats is the median and range of s's CPU per reconnection.
func stormStats(s *Stats) (med, lo, hi float64) {
	var xs []float64
	for _, r := range s.runs {
		if v := stormCPU(r); !math.IsNaN(v) {
			xs = append(xs, v)
		}
	}
	if len(xs) == 0 {
		return math.NaN(), math.NaN(), math.NaN()
	}
	return median(xs), slices.Min(xs), slices.Max(xs)
}

func (d *driver) keysetSection(p func(string, ...any)) {
	ks := d.rep.Keyset
	if len(ks) == 0 {
		return
	}
	p("## Key sets: RS256 and ES256 as identity providers sign them\n\n")
	p("The fixture verifies tokens signed with a key pair it generated at start, either with the public key passed directly or through a key set: with `-jwks-self` it serves the public key as a JWKS on a listener of its own on 127.0.0.1 and verifies through package jwks pointed at that URL, and the tokens name the key's ID, as an identity provider's do. ")
	p("%d connections per run, %d in flight, %d interleaved repetition(s), medians; every connection presents a token of its own, fetched from the server's `/login`.\n\n", d.opt.Conns, d.opt.Concurrency, d.opt.TargetReps)
	p("- **First connects**: every token is new to the server, so the verified-token cache cannot help: this column shows what a cache miss costs, which is what every first connection pays.\n")
	p("- **Reconnects**: then every socket is dropped, and after %s the same sockets reconnect, %d in flight, with the same tokens: with the cache, every verification is a hit. The reconnect figure is the server's CPU from the first reconnection to the last.\n\n", d.settle(), d.opt.Concurrency)
	p("| server | what | first connects: CPU µs/conn | range | reconnects: CPU µs/conn | range | Δ first connect vs direct key | Δ reconnect vs direct key | KB/conn | failures |\n")
	p("|---|---|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, s := range ks {
		med, lo, hi := stormStats(s)
		dFirst, dRe := "", ""
		if direct, ok := directKey(ks, s.Key); ok {
			dFirst = roundsText(pairRounds(s, direct, cpuDiff), "%+.0f")
			dRe = roundsText(pairRounds(s, direct, stormDiff), "%+.0f")
		}
		p("| **%s** | %s | %s | %s–%s | %s | %s–%s | %s | %s | %s | %s |\n", s.Key, s.Label, f0(s.CPU), f0(s.CPULo), f0(s.CPUHi), f0(med), f0(lo), f0(hi), dFirst, dRe, f1(s.KB), failText(s.Failures, s.Errors))
	}
	p("\n")
	for _, s := range ks {
		for _, e := range s.Errors {
			p("- %s: `%s`\n", s.Key, oneLine(e))
		}
	}
	d.loadLine(p, statsLoads(ks))
	var lines []string
	for _, alg := range keysetAlgs {
		k := "go-siojwt-" + strings.ToLower(alg)
		direct, set, cached := find(ks, statsKey, k), find(ks, statsKey, k+"-jwks"), find(ks, statsKey, k+"-jwks-cache")
		if direct == nil || set == nil || cached == nil {
			continue
		}
		line := fmt.Sprintf("%s: the key set against the key passed directly, first connects %s µs per connection", alg, roundsText(pairRounds(set, direct, cpuDiff), "%+.0f"))
		line += fmt.Sprintf("; the cache on a miss (first connects, cache against none) %s µs", roundsText(pairRounds(cached, set, cpuDiff), "%+.0f"))
		saved := pairRounds(cached, set, stormDiff)
		line += fmt.Sprintf("; the cache on reconnects %s µs", roundsText(saved, "%+.0f"))
		if len(saved) > 1 && beyond(saved) && median(saved) < 0 {
			line += " (cheaper in every round)"
		}
		if m := d.rep.Micro; m != nil && m.NS[alg][implCore] > 0 {
			line += fmt.Sprintf(", against %.0f µs for the verification alone (core Verify)", m.NS[alg][implCore]/1000)
		}
		lines = append(lines, line)
	}
	if len(lines) > 0 {
		p("Per round (median, lowest…highest): %s.\n\n", strings.Join(lines, ". "))
	}
}

// directKey returns the row with the public key passed directly for a key
// set row of the same algorithm.
func directKey(ks []*Stats, key string) (*Stats, bool) {
	base, ok := strings.CutSuffix(key, "-jwks")
	if !ok {
		base, ok = strings.CutSuffix(key, "-jwks-cache")
	}
	if !ok {
		return nil, false
	}
	s := find(ks, statsKey, base)
	return s, s != nil
}
