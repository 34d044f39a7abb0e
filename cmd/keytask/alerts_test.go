package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// Every event type an alert rule selects is counted from zero as soon as a
// process opens its store, so the alert fires on the type's first event.
func TestAlertedEventTypesCountFromZero(t *testing.T) {
	rules, err := os.ReadFile("../../deploy/prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, m := range regexp.MustCompile(`keytask_events_appended_total\{type=~?"([^"]+)"\}`).FindAllSubmatch(rules, -1) {
		types = append(types, strings.Split(string(m[1]), "|")...)
	}
	if len(types) < 2 {
		t.Fatalf("the alert rules select event types %v; the pattern no longer reads them", types)
	}
	reg := prometheus.NewRegistry()
	newStore(nil, reg, nil)
	born := map[string]float64{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "keytask_events_appended_total" {
			for _, m := range mf.GetMetric() {
				born[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
			}
		}
	}
	for _, typ := range types {
		if v, ok := born[typ]; !ok || v != 0 {
			t.Errorf("keytask_events_appended_total{type=%q} at start = %v (present %v), want 0", typ, v, ok)
		}
	}
}
