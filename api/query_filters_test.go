package api

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"keytask/db/pgtest"
	"keytask/events"
	"keytask/projections"
)

// TestListFiltersRefuseTextPostgresCannotCompare: a filter holding NUL or
// bytes that are no UTF-8 is the client's mistake, answered 400 naming it,
// where Postgres would fail the query and the client would see a 500.
func TestListFiltersRefuseTextPostgresCannotCompare(t *testing.T) {
	t.Parallel()
	d := pgtest.New(t)
	if err := projections.Setup(context.Background(), d.Pool, projections.All()...); err != nil {
		t.Fatal(err)
	}
	s := New(Config{Pool: d.Pool, Store: events.NewStore(d.Pool), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	for _, c := range []struct {
		name, query, field string
		handle             func(http.ResponseWriter, *http.Request) error
	}{
		{"performance reports", "province=11%00", "province", s.listPerformanceReports},
		{"performance roll-ups", "task_type=%ff", "task_type", s.performanceRollups},
		{"performance workbook", "province=%00", "province", s.performanceXLSX},
		{"performance page", "task_type=YZYX%00", "task_type", s.performanceListPage},
		{"projects", "province=%00", "province", s.listProjects},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/?"+c.query, nil)
			r.SetPathValue("year", "2022")
			r = r.WithContext(withPrincipal(r.Context(), fuzzAdmin))
			err := c.handle(httptest.NewRecorder(), r)
			var he *httpError
			if !errors.As(err, &he) || he.status != http.StatusBadRequest || he.field != c.field || !hasHan(he.message) {
				t.Fatalf("?%s: %v, want 400 naming %s", c.query, err, c.field)
			}
		})
	}
}
