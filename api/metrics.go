package api

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(reg prometheus.Registerer) httpMetrics {
	return httpMetrics{
		requests: registered(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keytask_http_requests_total",
			Help: "HTTP requests served, by route pattern, method and status code.",
		}, []string{"route", "method", "code"})),
		duration: registered(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "keytask_http_request_duration_seconds",
			Help:    "Time to serve an HTTP request, by route pattern and method.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route", "method"})),
	}
}

// instrument measures h under route, the mux pattern's path: labelling by the raw
// path would create a series per stream id.
func (m httpMetrics) instrument(route string, h http.Handler) http.Handler {
	labels := prometheus.Labels{"route": route}
	return promhttp.InstrumentHandlerDuration(m.duration.MustCurryWith(labels),
		promhttp.InstrumentHandlerCounter(m.requests.MustCurryWith(labels), h))
}

// registered registers c on reg, or returns the collector of the same name that
// is already there, so that a second Server on one registry counts into the same
// series. Any other registration error is a bug in the metric's definition.
func registered[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	if err != nil {
		panic(fmt.Sprintf("api: register HTTP metrics: %v", err))
	}
	return c
}
