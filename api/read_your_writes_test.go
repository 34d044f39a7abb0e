package api_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"

	"keytask/api"
	"keytask/projections"
)

// newLiveEnv is newTemporalEnv with the projector running as in production
// and the server waiting for it after each write (Config.AwaitProjections):
// the test never applies the read models itself.
func newLiveEnv(t *testing.T) (*env, client.Client) {
	t.Helper()
	e, c := newTemporalEnv(t)
	var names []string
	for _, p := range projections.All() {
		names = append(names, p.Name())
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	pr, err := projections.NewProjector(e.d.Pool, e.store, nil, quiet, projections.All()...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = pr.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	wait, cancelWait := context.WithTimeout(ctx, time.Minute)
	defer cancelWait()
	if err := pr.WaitCaughtUp(wait); err != nil {
		t.Fatal(err)
	}
	e.srv = api.New(api.Config{Pool: e.d.Pool, Store: e.store, Registry: prometheus.NewRegistry(), Temporal: c, Logger: quiet,
		AwaitProjections: names})
	return e, c
}

// Read your writes (DESIGN rule 11): whatever a client creates it can use in
// the very next request, with no pause and nobody applying read models by
// hand: a user and their token, a plan batch and the round opened on it, a
// liaison, a form's draft, an expert, a selection batch and an application.
func TestReadYourWrites(t *testing.T) {
	t.Parallel()
	e, _ := newLiveEnv(t)
	admin := e.adminToken

	// A user, then a token for them, then the token in use.
	want(t, e.do("POST", "/api/v1/users", admin, `{"user_id":"bj","name":"北京市人社局","role":"province","organisation":"11"}`), http.StatusCreated, "")
	bj := e.issueToken("bj")
	if res := e.do("GET", "/api/v1/me", bj, ""); res.Code != http.StatusOK {
		t.Fatalf("a token issued right after registration: %d %s", res.Code, res.Body)
	}
	// The user's own new token, used at once.
	created := e.do("POST", "/api/v1/tokens", bj, `{"label":"客户端"}`)
	want(t, created, http.StatusCreated, "")
	if res := e.do("GET", "/api/v1/me", created.str("token"), ""); res.Code != http.StatusOK {
		t.Fatalf("a token created through the API, used at once: %d %s", res.Code, res.Body)
	}

	// A plan batch, read at once, and a round opened on it at once.
	want(t, e.do("POST", "/api/v1/plan-batches", admin, jsonBody(t, map[string]any{"batch_id": "2022-1", "name": "第一批", "items_csv": batch1CSV})),
		http.StatusCreated, "")
	if res := e.do("GET", "/api/v1/plan-batches/2022-1", bj, ""); res.Code != http.StatusOK {
		t.Fatalf("a plan batch read right after it opened: %d %s", res.Code, res.Body)
	}
	deadline := time.Now().Add(time.Hour).Truncate(time.Second).Format(time.RFC3339)
	want(t, e.do("POST", "/api/v1/intent-rounds", admin, jsonBody(t, map[string]any{"round_id": "r1", "batch_id": "2022-1", "deadline": deadline})),
		http.StatusCreated, "")

	// A liaison, listed at once.
	want(t, e.do("PUT", "/api/v1/provinces/11/liaison", bj, `{"name":"张三","phone":"010-12345678","email":"zs@example.cn"}`), http.StatusOK, "")
	if res := e.do("GET", "/api/v1/liaisons", admin, ""); res.Code != http.StatusOK || !strings.Contains(res.Body.String(), "张三") {
		t.Fatalf("a liaison read right after registering: %d %s", res.Code, res.Body)
	}

	// A draft, read back at once.
	want(t, e.do("PUT", "/api/v1/intent-rounds/r1/provinces/11/draft", bj, `{"lines":[{"item":"1","undertake":true,"quantity":2,"funds":{"school":"1"}}]}`),
		http.StatusOK, "")
	if res := e.do("GET", "/api/v1/intent-rounds/r1/provinces/11/form", bj, ""); res.Code != http.StatusOK || !strings.Contains(res.Body.String(), `"draft"`) {
		t.Fatalf("a draft read right after saving: %d %s", res.Code, res.Body)
	}

	// An expert, listed at once.
	want(t, e.do("POST", "/api/v1/experts", admin, `{"expert_id":"e1","name":"专家甲","expertise":{"YZYX":3},"load":5}`), http.StatusCreated, "")
	if res := e.do("GET", "/api/v1/experts", admin, ""); res.Code != http.StatusOK || !strings.Contains(res.Body.String(), "专家甲") {
		t.Fatalf("an expert read right after registering: %d %s", res.Code, res.Body)
	}
}
