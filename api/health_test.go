package api_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"keytask/api"
)

func TestHealthz(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.ready = errors.New("temporal is down") // liveness must not depend on it
	res := e.do("GET", "/healthz", "", "")
	if res.Code != http.StatusOK || strings.TrimSpace(res.Body.String()) != "ok" {
		t.Fatalf("healthz: %d %q", res.Code, res.Body)
	}
}

func TestReadyz(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	t.Run("OK", func(t *testing.T) {
		res := e.do("GET", "/readyz", "", "")
		want(t, res, http.StatusOK, "")
		if res.str("status") != "ready" {
			t.Fatalf("readyz: %s", res.Body)
		}
	})
	t.Run("ErrTemporal", func(t *testing.T) {
		e.ready = errors.New("no frontend")
		defer func() { e.ready = nil }()
		// Reads need only the database: a Temporal outage keeps serve in rotation.
		if res := e.do("GET", "/readyz", "", ""); res.Code != http.StatusOK {
			t.Fatalf("readyz for reads with Temporal down: %d %s", res.Code, res.Body)
		}
		res := e.do("GET", "/readyz/commands", "", "")
		if res.Code != http.StatusServiceUnavailable {
			t.Fatalf("status %d: %s", res.Code, res.Body)
		}
		checks, _ := res.json["checks"].(map[string]any)
		if checks["temporal"] != "failed" || checks["database"] != "ok" || !strings.Contains(res.str("error"), "temporal") {
			t.Fatalf("readyz does not say temporal failed: %s", res.Body)
		}
	})
	t.Run("ErrDatabase", func(t *testing.T) {
		e.d.Pool.Close()
		res := e.do("GET", "/readyz", "", "")
		checks, _ := res.json["checks"].(map[string]any)
		if res.Code != http.StatusServiceUnavailable || checks["database"] != "failed" {
			t.Fatalf("status %d: %s", res.Code, res.Body)
		}
	})
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.do("GET", "/api/v1/me", e.adminToken, "")
	e.do("GET", "/api/v1/streams/user-admin/timeline", e.adminToken, "")
	e.do("GET", "/api/v1/me", "", "")
	res := e.do("GET", "/metrics", "", "")
	body := res.Body.String()
	for _, s := range []string{
		`keytask_http_requests_total{code="200",method="get",route="/api/v1/me"} 1`,
		`keytask_http_requests_total{code="401",method="get",route="/api/v1/me"} 1`,
		// The pattern, not the raw path: one series however many streams are read.
		`keytask_http_requests_total{code="200",method="get",route="/api/v1/streams/{stream}/timeline"} 1`,
		`keytask_http_request_duration_seconds_count{method="get",route="/api/v1/me"} 2`,
	} {
		if !strings.Contains(body, s) {
			t.Errorf("/metrics lacks %s", s)
		}
	}
	if t.Failed() {
		t.Log(body)
	}
}

// cmd/ may build a server more than once on the platform's one registry.
func TestServersShareRegistry(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	reg := prometheus.NewRegistry()
	a := api.New(api.Config{Pool: e.d.Pool, Store: e.store, Registry: reg})
	b := api.New(api.Config{Pool: e.d.Pool, Store: e.store, Registry: reg})
	for _, s := range []*api.Server{a, b} {
		s.Handler().ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/healthz", nil))
	}
	rec := httptest.NewRecorder()
	a.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if !strings.Contains(rec.Body.String(), `keytask_http_requests_total{code="200",method="get",route="/healthz"} 2`) {
		t.Fatalf("two servers did not count into one series:\n%s", rec.Body)
	}
}
