package projections_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"keytask/projections"
)

// Every projection's poison counter exists at zero from the start: a series
// born at its first increment would hide the first poisoned event from
// increase() and the KeytaskProjectionPoisoned alert.
func TestPoisonCounterStartsAtZero(t *testing.T) {
	d, s := newEnv(t)
	reg := prometheus.NewRegistry()
	newProjector(t, d, s, reg, projections.NewTimeline(), picky{})
	for _, name := range []string{"timeline", "picky"} {
		if got, ok := gather(t, reg, "keytask_projection_poisoned_total", name); !ok || got != 0 {
			t.Errorf("keytask_projection_poisoned_total{projection=%q} = %v (present %v), want 0", name, got, ok)
		}
	}
}
