package temporalx

import (
	"errors"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
)

// sdkTagKeys is the superset of tag keys the Temporal Go SDK puts on its
// metrics (go.temporal.io/sdk/internal/common/metrics, the *TagName
// constants). Every metric gets all of them as labels.
//
// Why a fixed superset: the SDK emits one metric name with different tag
// sets (temporal_request carries operation+namespace from the gRPC
// interceptor, plus workflow_type/activity_type/task_queue when called from
// a worker, plus status_code on failures). client_golang requires exactly one
// label set per metric name and panics otherwise, so we declare all of them
// up front and leave the ones a call site did not set empty.
var sdkTagKeys = []string{
	"namespace",
	"client_name",
	"worker_type",
	"poller_type",
	"workflow_type",
	"activity_type",
	"task_queue",
	"operation",
	"nexus_service",
	"nexus_operation",
	"failure_reason",
	"cause",
	"status_code",
}

// timerBuckets are the histogram buckets, in seconds, for SDK timers. They
// span a millisecond (a poll or RPC) up to a day, since end-to-end latencies
// of keytask workflows (reviews, public notices) are measured in days.
var timerBuckets = []float64{
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
	1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 6 * 3600, 24 * 3600,
}

// NewMetricsHandler returns a client.MetricsHandler that records the
// Temporal SDK's metrics in reg. Counters become Prometheus counters, gauges
// gauges, and timers histograms in seconds. Metric names are the SDK's
// (already prefixed "temporal_"), with characters that are not valid in a
// Prometheus name replaced and "_total" appended to counters that lack it,
// as Prometheus conventions ask (temporal_request → temporal_request_total).
//
// Tags outside the SDK's known set are dropped rather than added as labels,
// because a label set, once registered, cannot grow. A nil reg is allowed:
// metrics are then recorded but registered nowhere (as with promauto.With).
//
// Several handlers may share one registry (for instance a client for the
// API and one for the worker): the second one reuses the collectors the
// first registered.
func NewMetricsHandler(reg prometheus.Registerer) client.MetricsHandler {
	return &promHandler{
		vecs: &promVecs{
			reg:  reg,
			vecs: make(map[string]any),
		},
		tags: map[string]string{},
	}
}

// promVecs holds one collector vector per metric name, created lazily on
// first use and shared by every handler derived through WithTags.
type promVecs struct {
	reg prometheus.Registerer

	mu   sync.Mutex
	vecs map[string]any // name → *prometheus.CounterVec | *GaugeVec | *HistogramVec | nil (unusable)
}

type promHandler struct {
	vecs *promVecs
	tags map[string]string // only keys from sdkTagKeys
}

var _ client.MetricsHandler = (*promHandler)(nil)

// WithTags returns a handler whose metrics carry tags on top of the
// receiver's; a key present in both takes the new value, as the SDK's
// Handler contract asks.
func (h *promHandler) WithTags(tags map[string]string) client.MetricsHandler {
	merged := maps.Clone(h.tags)
	for _, k := range sdkTagKeys {
		if v, ok := tags[k]; ok {
			merged[k] = v
		}
	}
	return &promHandler{vecs: h.vecs, tags: merged}
}

// labelValues lists the handler's tag values in sdkTagKeys order, with ""
// for keys the call site did not set.
func (h *promHandler) labelValues() []string {
	vals := make([]string, len(sdkTagKeys))
	for i, k := range sdkTagKeys {
		vals[i] = h.tags[k]
	}
	return vals
}

// Counter implements client.MetricsHandler.
func (h *promHandler) Counter(name string) client.MetricsCounter {
	// Prometheus convention (and promtool) wants counters to end in _total;
	// some SDK counters, such as temporal_request, do not.
	if !strings.HasSuffix(name, "_total") {
		name += "_total"
	}
	vec, ok := h.vecs.get(name, func(n string) prometheus.Collector {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: n, Help: "Temporal SDK counter " + n + "."}, sdkTagKeys)
	}).(*prometheus.CounterVec)
	if !ok {
		return client.MetricsNopHandler.Counter(name)
	}
	c := vec.WithLabelValues(h.labelValues()...)
	return counterFunc(func(d int64) {
		// A Prometheus counter panics on a negative add; the SDK never
		// sends one, but user code calling the handler might.
		if d > 0 {
			c.Add(float64(d))
		}
	})
}

// Gauge implements client.MetricsHandler.
func (h *promHandler) Gauge(name string) client.MetricsGauge {
	vec, ok := h.vecs.get(name, func(n string) prometheus.Collector {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: n, Help: "Temporal SDK gauge " + n + "."}, sdkTagKeys)
	}).(*prometheus.GaugeVec)
	if !ok {
		return client.MetricsNopHandler.Gauge(name)
	}
	g := vec.WithLabelValues(h.labelValues()...)
	return gaugeFunc(g.Set)
}

// Timer implements client.MetricsHandler.
func (h *promHandler) Timer(name string) client.MetricsTimer {
	vec, ok := h.vecs.get(name, func(n string) prometheus.Collector {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    n,
			Help:    "Temporal SDK timer " + n + ", in seconds.",
			Buckets: timerBuckets,
		}, sdkTagKeys)
	}).(*prometheus.HistogramVec)
	if !ok {
		return client.MetricsNopHandler.Timer(name)
	}
	o := vec.WithLabelValues(h.labelValues()...)
	return timerFunc(func(d time.Duration) { o.Observe(d.Seconds()) })
}

// get returns the collector for name, creating and registering it with mk on
// first use. It returns nil when the name is already taken by a collector of
// another kind or label set; callers then fall back to a no-op, because a
// metrics mismatch must never take a worker down.
func (v *promVecs) get(name string, mk func(string) prometheus.Collector) any {
	name = promName(name)
	v.mu.Lock()
	defer v.mu.Unlock()
	if c, ok := v.vecs[name]; ok {
		return c
	}
	var c prometheus.Collector = mk(name)
	if v.reg != nil {
		if err := v.reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				// Another handler on the same registry got there first;
				// share its collector.
				c = are.ExistingCollector
			} else {
				c = nil
			}
		}
	}
	// A nil collector is cached too, so a clash is resolved once, not on
	// every call.
	v.vecs[name] = c
	return v.vecs[name]
}

// promName turns an SDK metric name into a valid Prometheus metric name:
// dots and any other invalid character become underscores, and a leading
// digit gets an underscore in front. Colons are replaced too, since they
// are reserved for recording rules.
func promName(name string) string {
	if name == "" {
		return "temporal_unnamed"
	}
	var b strings.Builder
	for i, r := range name {
		switch {
		case r == '_', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
			b.WriteRune(r)
		case r >= '0' && r <= '9':
			if i == 0 {
				b.WriteByte('_')
			}
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

type counterFunc func(int64)

func (f counterFunc) Inc(d int64) { f(d) }

type gaugeFunc func(float64)

func (f gaugeFunc) Update(d float64) { f(d) }

type timerFunc func(time.Duration)

func (f timerFunc) Record(d time.Duration) { f(d) }

// CountFailuresFromZero creates the SDK's workflow-failure counter at zero for
// each workflow type a worker on taskQueue runs. A counter born at its first
// increment has no earlier sample, so increase() and the KeytaskWorkflowFailed
// alert would miss the first failure. The labels are those the SDK gives the
// counter when it fails a workflow task (the client's root tags, the worker's
// task queue, the workflow type): only the very same series keeps the zero.
func CountFailuresFromZero(h client.MetricsHandler, namespace, taskQueue string, workflowTypes ...string) {
	for _, wt := range workflowTypes {
		h.WithTags(map[string]string{
			"namespace":     namespace,
			"client_name":   "temporal_go",
			"worker_type":   "none",
			"workflow_type": wt,
			"activity_type": "none",
			"task_queue":    taskQueue,
		}).Counter("temporal_workflow_failed")
	}
}
