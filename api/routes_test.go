package api_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"keytask/domain/policy"
)

// publicRoutes are the only routes served without a token. Adding one is a
// security decision: it must be made here, on purpose.
var publicRoutes = []string{"GET /healthz", "GET /readyz", "GET /readyz/commands", "GET /metrics",
	"GET /public/notices/{batch}", "POST /public/notices/{batch}/objections", "GET /public/publications/{batch}",
	"GET /login", "POST /login", "OPTIONS /codec/{op}", "GET /api/v1/openapi.json", "GET /{$}"}

func TestEveryRouteDeclaresPolicy(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	routes := e.srv.Routes()
	if len(routes) == 0 {
		t.Fatal("no routes")
	}
	for _, rt := range routes {
		t.Run(rt.Pattern, func(t *testing.T) {
			if rt.Public {
				if !slices.Contains(publicRoutes, rt.Pattern) {
					t.Fatalf("%s is public but not in publicRoutes", rt.Pattern)
				}
				return
			}
			if !slices.Contains(policy.Actions, rt.Action) || rt.Resource == nil {
				t.Fatalf("%s declares no policy (action %q, resource func %v)", rt.Pattern, rt.Action, rt.Resource != nil)
			}
			// Without a token every guarded route refuses, before its handler runs.
			method, path, _ := strings.Cut(rt.Pattern, " ")
			path = strings.NewReplacer("{stream}", "user-admin", "{$}", "").Replace(path)
			rec := httptest.NewRecorder()
			e.srv.Handler().ServeHTTP(rec, httptest.NewRequest(method, path, nil))
			page := strings.HasPrefix(path, "/web/") || strings.HasPrefix(path, "/account/") || path == "/logout"
			if page && method == "GET" {
				// A browser is sent to log in instead.
				if rec.Code != http.StatusSeeOther || !strings.HasPrefix(rec.Header().Get("Location"), "/login?next=") {
					t.Fatalf("%s without a session: %d %s", rt.Pattern, rec.Code, rec.Header().Get("Location"))
				}
				return
			}
			if rec.Code != http.StatusUnauthorized {
				t.Fatalf("%s without a token: %d", rt.Pattern, rec.Code)
			}
		})
	}
}
