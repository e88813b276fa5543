package metrics_test

import (
	"bufio"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/siojwt/siojwt"
	"github.com/siojwt/siojwt/core"
	"github.com/siojwt/siojwt/metrics"
	"github.com/zishang520/socket.io/servers/socket/v3"
)

func Example() {
	// The application's own registry: nothing goes to the global one.
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg)
	if err != nil {
		panic(err)
	}

	io := socket.NewServer(nil, nil)
	defer io.Close(nil)
	v, err := core.New(core.WithSecretString("a secret of at least 32 bytes....."))
	if err != nil {
		panic(err)
	}
	auth, err := siojwt.New(io, v, siojwt.WithHook(m.Observe))
	if err != nil {
		panic(err)
	}
	defer auth.Close()
	if err := auth.Protect(io.Sockets()); err != nil {
		panic(err)
	}

	mux := http.NewServeMux()
	mux.Handle("/socket.io/", io.ServeHandler(nil))
	// Serve /metrics on an address only the monitoring system can reach.
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))

	// What a scrape sees (here, before any client has connected).
	srv := httptest.NewServer(mux)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, "siojwt_auth_attempts_total{code=\"\",mode=\"handshake\"") ||
			strings.HasPrefix(line, "siojwt_authenticated_sockets ") {
			fmt.Println(line)
		}
	}
	// Output:
	// siojwt_auth_attempts_total{code="",mode="handshake",result="success"} 0
	// siojwt_authenticated_sockets 0
}

func ExampleCollector_Observe() {
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg, metrics.WithCodes("banned"))
	if err != nil {
		panic(err)
	}
	// The binding calls Observe through siojwt.WithHook(m.Observe).
	m.Observe(siojwt.Event{Kind: siojwt.EventAuthenticated, Mode: siojwt.ModePostConnect, Namespace: "/", SocketID: "a"})
	m.Observe(siojwt.Event{Kind: siojwt.EventRejected, Mode: siojwt.ModePostConnect, Namespace: "/", SocketID: "b", Code: "banned"})
	m.Observe(siojwt.Event{Kind: siojwt.EventExpired, Mode: siojwt.ModePostConnect, Namespace: "/", SocketID: "a", Code: core.CodeInvalidToken})

	mfs, err := reg.Gather()
	if err != nil {
		panic(err)
	}
	for _, mf := range mfs {
		for _, metric := range mf.GetMetric() {
			var v float64
			switch {
			case metric.GetCounter() != nil:
				v = metric.GetCounter().GetValue()
			case metric.GetGauge() != nil:
				v = metric.GetGauge().GetValue()
			default:
				continue
			}
			if v == 0 {
				continue
			}
			var labels []string
			for _, l := range metric.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			fmt.Println(mf.GetName(), strings.Join(labels, " "), v)
		}
	}
	// Output:
	// siojwt_auth_attempts_total code= mode=connect result=success 1
	// siojwt_auth_attempts_total code=banned mode=connect result=failure 1
	// siojwt_auth_failures_total kind=rejected mode=connect 1
	// siojwt_expiry_cuts_total  1
}

func ExampleCollector_KeySetFetch() {
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg)
	if err != nil {
		panic(err)
	}
	// A JWKS key source calls its fetch hook (jwks.WithFetchHook) after every fetch; pass
	// m.KeySetFetch as that callback.
	var onFetch func(error) = m.KeySetFetch
	onFetch(nil)
	onFetch(fmt.Errorf("jwks: GET: %s", http.StatusText(http.StatusBadGateway)))

	mfs, err := reg.Gather()
	if err != nil {
		panic(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "siojwt_keyset_fetches_total" {
			continue
		}
		for _, metric := range mf.GetMetric() {
			fmt.Println(metric.GetLabel()[0].GetValue(), metric.GetCounter().GetValue())
		}
	}
	// Output:
	// failure 1
	// success 1
}
