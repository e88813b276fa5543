package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/siojwt/siojwt"
	"github.com/siojwt/siojwt/authz"
)

// maxRuleLabels bounds the values of the rule label of
// siojwt_denials_total: rule names come from the server's configuration,
// and a configuration with more distinct names than this (or a rule
// function named from data) has the rest counted as "other".
const maxRuleLabels = 128

// denials counts authorization refusals (siojwt.EventForbidden).
type denials struct {
	counter *prometheus.CounterVec

	mu    sync.Mutex
	rules map[string]struct{} // rule label values in use
}

func newDenials(desc func(name, help string) prometheus.Opts) *denials {
	return &denials{
		counter: prometheus.NewCounterVec(prometheus.CounterOpts(desc("denials_total",
			"Authorization refusals, by kind (namespace, event, room) and rule name.")),
			[]string{"kind", "rule"}),
		rules: make(map[string]struct{}),
	}
}

// observe counts one refusal. A namespace refusal of a counted socket (a
// refresh or recovery the new grants no longer allow) also ends the
// socket's count in the gauge.
func (d *denials) observe(c *Collector, e siojwt.Event) {
	d.counter.WithLabelValues(deniedLabel(e.Denied), d.ruleLabel(e.Rule)).Inc()
	if e.Denied == authz.KindNamespace {
		c.remove(e)
	}
}

func deniedLabel(k authz.Kind) string {
	switch k {
	case authz.KindNamespace, authz.KindEvent, authz.KindRoom:
		return k.String()
	}
	return Other
}

func (d *denials) ruleLabel(rule string) string {
	if rule == "" {
		return Other
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.rules[rule]; ok {
		return rule
	}
	if len(d.rules) >= maxRuleLabels {
		return Other
	}
	d.rules[rule] = struct{}{}
	return rule
}
