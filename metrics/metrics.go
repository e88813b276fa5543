// Package metrics exports Prometheus metrics for siojwt: authentication
// attempts and their outcome, verification latency, the number of
// authenticated sockets, refreshes, cuts (expiry, revocation, timeout) and
// key set fetches.
//
// A Collector is fed by the binding's events:
//
//	reg := prometheus.NewRegistry()
//	m, err := metrics.New(reg)
//	...
//	auth, err := siojwt.New(io, verifier, siojwt.WithHook(m.Observe))
//
// and, for a JWKS key source, by its fetch hook (KeySetFetch, through jwks.WithFetchHook).
//
// # Series
//
//	siojwt_auth_attempts_total{mode, result, code}  counter
//	siojwt_auth_failures_total{mode, kind}          counter
//	siojwt_verify_duration_seconds{mode}            histogram
//	siojwt_authenticated_sockets                    gauge
//	siojwt_refreshes_total{result}                  counter
//	siojwt_expiry_cuts_total                        counter
//	siojwt_revocation_cuts_total                    counter
//	siojwt_timeouts_total                           counter
//	siojwt_keyset_fetches_total{result}             counter
//	siojwt_denials_total{kind, rule}                counter
//
// mode is "handshake", "connect" or "other"; result is "success" or
// "failure"; code is "" on success, else one of the core package's codes,
// a code declared with WithCodes, or "other"; kind is one of core.Kinds()
// (the class of the failure, Event.Failure: it tells an expired token
// from a forged one where code says "invalid_token" for both), or
// "other". siojwt_auth_failures_total counts the same failures as
// siojwt_auth_attempts_total{result="failure"}, by kind; a failure
// answered "rate_limited" because its address failed too often is
// counted under its own kind.
//
// siojwt_denials_total counts authorization refusals (Event kind
// "forbidden"): there kind is what was refused, "namespace", "event" or
// "room", and rule is the name of the rule that refused (from the
// server's configuration: package authz), at most 128 distinct values,
// then "other".
//
// # Bounded labels
//
// Every label value comes from a fixed set, whatever clients send. Nothing
// a client chooses becomes a label: not the namespace name (clients may
// ask for any namespace, and dynamic namespaces create them on demand), not
// the remote address, the subject or the token fingerprint, and not an
// error code the server did not declare. Each distinct label value is a
// new time series held in memory by this process and by the Prometheus
// server until restarted; a label fed from client input would let anyone
// with a network connection exhaust both. Per-subject or per-address
// detail belongs in logs (see the audit example), not in metrics.
//
// # The authenticated sockets gauge
//
// The gauge follows each socket by its namespace and socket ID (kept in a
// map with one entry per authenticated socket, never in a label):
//
//   - "authenticated" counts the socket (once, however often it is
//     reported);
//   - "closed", "expired", "revoked" and "timed_out" stop counting it, if
//     it was counted;
//   - "rejected" stops counting it if it was counted: an authenticated
//     socket is only rejected when a refresh fails, and the binding then
//     cuts it;
//   - "forbidden" for a namespace stops counting it if it was counted: a
//     refresh or a recovery whose grants no longer allow the namespace
//     cuts the socket; "forbidden" for an event or a room changes nothing;
//   - "refreshed" changes nothing.
//
// The binding reports "closed" only for an authenticated socket that goes
// away without being cut: when it cuts a socket (expiry, revocation, a
// failed refresh), the event announcing the cut is the last one, and the
// later disconnection produces no "closed". So each authenticated socket
// ends with exactly one of closed, expired, revoked or rejected. Because a
// socket is only subtracted when it was counted, an end reported twice (a
// revocation racing a close) or a "closed" for a socket that was never
// reported authenticated cannot drive the gauge below the number of live
// sockets.
//
// A rejection of a counted socket is a failed refresh, and is counted in
// siojwt_refreshes_total{result="failure"}; siojwt_auth_attempts_total
// counts first authentications only.
package metrics

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/siojwt/siojwt"
	"github.com/siojwt/siojwt/core"
)

// Namespace is the prefix of every series name.
const Namespace = "siojwt"

// Label values.
const (
	// ResultSuccess and ResultFailure are the values of the result label.
	ResultSuccess = "success"
	ResultFailure = "failure"
	// Other replaces any mode or code outside the allow-list.
	Other = "other"
)

// DefaultBuckets returns the default buckets of
// siojwt_verify_duration_seconds, in seconds: from 10µs (an HMAC check)
// to 1s (a key set fetch on a slow network).
func DefaultBuckets() []float64 {
	return []float64{
		0.00001, 0.000025, 0.00005,
		0.0001, 0.00025, 0.0005,
		0.001, 0.0025, 0.005,
		0.01, 0.025, 0.05,
		0.1, 0.25, 0.5,
		1,
	}
}

// knownCodes returns the codes the core package and the binding produce.
func knownCodes() map[string]struct{} {
	m := make(map[string]struct{})
	for _, c := range []string{
		core.CodeCredentialsBadFormat,
		core.CodeMissingAuthorizationHeader,
		core.CodeCredentialsRequired,
		core.CodeInvalidToken,
		core.CodeInvalidSecret,
		core.CodeUnknown,
		core.CodeKeySetUnavailable,
		core.CodeRateLimited,
		core.CodeInternal,
		core.CodeInsufficientScope,
	} {
		m[c] = struct{}{}
	}
	return m
}

type config struct {
	codes       map[string]struct{}
	buckets     []float64
	constLabels prometheus.Labels
}

// maxExtraCodes bounds WithCodes, so that the code label stays small.
const maxExtraCodes = 64

// Option configures a Collector. Options validate their arguments: New
// returns the first error.
type Option func(*config) error

// WithCodes adds the application's own error codes (those its checks and
// key functions return in a *core.Error) to the allow-list of the code
// label. Codes outside the list are counted as "other". At most 64 codes
// may be added: each one is a series per mode.
func WithCodes(codes ...string) Option {
	return func(c *config) error {
		if len(codes) == 0 {
			return errors.New("metrics: empty code list")
		}
		for _, code := range codes {
			if code == "" || !utf8.ValidString(code) {
				return fmt.Errorf("metrics: invalid code %q", code)
			}
			c.codes[code] = struct{}{}
		}
		if len(c.codes) > len(knownCodes())+maxExtraCodes {
			return fmt.Errorf("metrics: more than %d codes added", maxExtraCodes)
		}
		return nil
	}
}

// WithBuckets replaces the buckets of siojwt_verify_duration_seconds (in
// seconds, strictly increasing).
func WithBuckets(buckets ...float64) Option {
	return func(c *config) error {
		if len(buckets) == 0 {
			return errors.New("metrics: empty bucket list")
		}
		for i, b := range buckets {
			if b <= 0 || (i > 0 && b <= buckets[i-1]) {
				return errors.New("metrics: buckets must be positive and strictly increasing")
			}
		}
		c.buckets = slices.Clone(buckets)
		return nil
	}
}

// WithConstLabels adds fixed labels to every series, to tell several
// Collectors on one registry apart (for example {"server": "chat"}). The
// values are the application's; never put client input in them.
func WithConstLabels(labels prometheus.Labels) Option {
	return func(c *config) error {
		if len(labels) == 0 {
			return errors.New("metrics: empty const labels")
		}
		c.constLabels = make(prometheus.Labels, len(labels))
		for k, v := range labels {
			switch k {
			case "mode", "result", "code", "kind", "rule":
				return fmt.Errorf("metrics: const label %q is one of the variable labels", k)
			}
			c.constLabels[k] = v
		}
		return nil
	}
}

// Collector holds siojwt's metrics. Feed it with Observe (as a binding
// hook) and KeySetFetch (as a key set's fetch hook, jwks.WithFetchHook). It is safe for
// concurrent use, and implements prometheus.Collector.
type Collector struct {
	attempts       *prometheus.CounterVec
	failures       *prometheus.CounterVec
	duration       *prometheus.HistogramVec
	sockets        prometheus.Gauge
	refreshes      *prometheus.CounterVec
	expiryCuts     prometheus.Counter
	revocationCuts prometheus.Counter
	timeouts       prometheus.Counter
	keySetFetches  *prometheus.CounterVec
	denials        *denials // denials.go

	codes map[string]struct{} // read-only after New
	// modes holds, per mode, the series every successful authentication
	// touches, resolved once instead of by label values per event.
	modes map[string]*modeSeries // read-only after New (its fields are atomic)

	mu   sync.Mutex
	live map[socketKey]struct{} // the sockets the gauge counts
}

type socketKey struct{ namespace, id string }

// modeSeries are one mode's series of the success path.
type modeSeries struct {
	success prometheus.Counter // auth_attempts_total{mode, "success", ""}
	// duration is verify_duration_seconds{mode}, resolved on first use so
	// that the series appears with the first verification, as before.
	duration atomic.Pointer[prometheus.Observer]
}

// New builds a Collector and registers it on reg, which must not be nil:
// the global registry is only used when it is what the caller passes
// (prometheus.DefaultRegisterer). Registering a second Collector on the
// same registry fails unless WithConstLabels tells them apart.
func New(reg prometheus.Registerer, opts ...Option) (*Collector, error) {
	if reg == nil {
		return nil, errors.New("metrics: nil registerer")
	}
	cfg := config{codes: knownCodes(), buckets: DefaultBuckets()}
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("metrics: nil option")
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	desc := func(name, help string) prometheus.Opts {
		return prometheus.Opts{Namespace: Namespace, Name: name, Help: help, ConstLabels: cfg.constLabels}
	}
	c := &Collector{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts(desc("auth_attempts_total",
			"First authentications of sockets, by mode, result and error code (empty on success).")),
			[]string{"mode", "result", "code"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts(desc("auth_failures_total",
			"Failed first authentications of sockets, by mode and failure kind.")),
			[]string{"mode", "kind"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "verify_duration_seconds", ConstLabels: cfg.constLabels, Buckets: cfg.buckets,
			Help: "Time taken to verify a token (authentications, refreshes and rejections), by mode.",
		}, []string{"mode"}),
		sockets: prometheus.NewGauge(prometheus.GaugeOpts(desc("authenticated_sockets",
			"Sockets currently authenticated."))),
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts(desc("refreshes_total",
			"In-band token refreshes of authenticated sockets, by result (a failure cuts the socket).")),
			[]string{"result"}),
		expiryCuts: prometheus.NewCounter(prometheus.CounterOpts(desc("expiry_cuts_total",
			"Sockets cut because their token expired."))),
		revocationCuts: prometheus.NewCounter(prometheus.CounterOpts(desc("revocation_cuts_total",
			"Sockets cut because their token was revoked."))),
		timeouts: prometheus.NewCounter(prometheus.CounterOpts(desc("timeouts_total",
			"Sockets disconnected for not authenticating in time (post-connect mode)."))),
		keySetFetches: prometheus.NewCounterVec(prometheus.CounterOpts(desc("keyset_fetches_total",
			"Fetches of the JSON Web Key Set, by result.")),
			[]string{"result"}),
		denials: newDenials(desc),
		codes:   cfg.codes,
		live:    make(map[socketKey]struct{}),
	}
	// Series that exist from the start, so that rates work from the first
	// scrape.
	c.modes = map[string]*modeSeries{}
	for _, m := range []siojwt.Mode{siojwt.ModeHandshake, siojwt.ModePostConnect} {
		c.modes[string(m)] = &modeSeries{success: c.attempts.WithLabelValues(string(m), ResultSuccess, "")}
		c.attempts.WithLabelValues(string(m), ResultFailure, core.CodeInvalidToken)
		for _, k := range core.Kinds() {
			c.failures.WithLabelValues(string(m), string(k))
		}
	}
	for _, r := range []string{ResultSuccess, ResultFailure} {
		c.refreshes.WithLabelValues(r)
		c.keySetFetches.WithLabelValues(r)
	}
	if err := reg.Register(c); err != nil {
		return nil, fmt.Errorf("metrics: register: %w", err)
	}
	return c, nil
}

func (c *Collector) collectors() []prometheus.Collector {
	return []prometheus.Collector{c.attempts, c.failures, c.duration, c.sockets, c.refreshes,
		c.expiryCuts, c.revocationCuts, c.timeouts, c.keySetFetches, c.denials.counter}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range c.collectors() {
		m.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	for _, m := range c.collectors() {
		m.Collect(ch)
	}
}

// Observe records one binding event; pass it to siojwt.WithHook. It takes
// nothing from the event as a label but its kind, mode, code and failure
// kind, each
// mapped to a fixed set of values.
func (c *Collector) Observe(e siojwt.Event) {
	mode := modeLabel(e.Mode)
	switch e.Kind {
	case siojwt.EventAuthenticated:
		if ms := c.modes[mode]; ms != nil {
			ms.success.Inc()
		} else {
			c.attempts.WithLabelValues(mode, ResultSuccess, "").Inc()
		}
		c.observeDuration(mode, e)
		c.add(e)
	case siojwt.EventRejected:
		c.observeDuration(mode, e)
		if c.remove(e) {
			c.refreshes.WithLabelValues(ResultFailure).Inc()
			return
		}
		c.attempts.WithLabelValues(mode, ResultFailure, c.codeLabel(e.Code)).Inc()
		c.failures.WithLabelValues(mode, kindLabel(e)).Inc()
	case siojwt.EventRefreshed:
		c.refreshes.WithLabelValues(ResultSuccess).Inc()
		c.observeDuration(mode, e)
	case siojwt.EventExpired:
		c.expiryCuts.Inc()
		c.remove(e)
	case siojwt.EventRevoked:
		c.revocationCuts.Inc()
		c.remove(e)
	case siojwt.EventTimedOut:
		c.timeouts.Inc()
		c.remove(e)
	case siojwt.EventClosed:
		c.remove(e)
	case siojwt.EventForbidden:
		c.denials.observe(c, e)
	}
}

// KeySetFetch records one fetch of a JSON Web Key Set: err is nil on
// success. Pass it to jwks.WithFetchHook.
func (c *Collector) KeySetFetch(err error) {
	if err != nil {
		c.keySetFetches.WithLabelValues(ResultFailure).Inc()
		return
	}
	c.keySetFetches.WithLabelValues(ResultSuccess).Inc()
}

// observeDuration records how long a verification took. Events without a
// duration (refusals made before any token is read, such as the pending
// cap, and re-checks of sockets restored by connection-state recovery) and
// rate-limited refusals, which check no token, are left out.
func (c *Collector) observeDuration(mode string, e siojwt.Event) {
	if e.Duration <= 0 || e.Code == core.CodeRateLimited {
		return
	}
	c.durationOf(mode).Observe(e.Duration.Seconds())
}

// durationOf is mode's verify_duration_seconds series.
func (c *Collector) durationOf(mode string) prometheus.Observer {
	ms := c.modes[mode]
	if ms == nil {
		return c.duration.WithLabelValues(mode)
	}
	if o := ms.duration.Load(); o != nil {
		return *o
	}
	o := c.duration.WithLabelValues(mode) // the same series if two race here
	ms.duration.Store(&o)
	return o
}

// add counts the event's socket in the gauge, once.
func (c *Collector) add(e siojwt.Event) {
	if e.SocketID == "" {
		return
	}
	k := socketKey{e.Namespace, e.SocketID}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.live[k]; ok {
		return
	}
	c.live[k] = struct{}{}
	c.sockets.Inc()
}

// remove stops counting the event's socket in the gauge, and reports
// whether it was counted.
func (c *Collector) remove(e siojwt.Event) bool {
	if e.SocketID == "" {
		return false
	}
	k := socketKey{e.Namespace, e.SocketID}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.live[k]; !ok {
		return false
	}
	delete(c.live, k)
	c.sockets.Dec()
	return true
}

func modeLabel(m siojwt.Mode) string {
	switch m {
	case siojwt.ModeHandshake, siojwt.ModePostConnect:
		return string(m)
	}
	return Other
}

func (c *Collector) codeLabel(code string) string {
	if _, ok := c.codes[code]; ok {
		return code
	}
	return Other
}

// kindLabel is the event's failure kind, or the kind of its code when an
// event made by hand has none.
func kindLabel(e siojwt.Event) string {
	k := e.Failure
	if k == "" {
		k = core.NewError(e.Code, "", nil).Kind()
	}
	if slices.Contains(core.Kinds(), k) {
		return string(k)
	}
	return Other
}
