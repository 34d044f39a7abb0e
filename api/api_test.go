package api_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"keytask/api"
	"keytask/db/pgtest"
	"keytask/domain/identity"
	"keytask/events"
	"keytask/projections"
)

// env is a server over a fresh database, with the admin seeded and projected.
type env struct {
	t          *testing.T
	d          *pgtest.DB
	store      *events.Store
	srv        *api.Server
	adminToken string
	ready      error // what Config.Ready returns
	applied    events.Order
}

func newEnv(t *testing.T) *env {
	t.Helper()
	d := pgtest.New(t)
	e := &env{t: t, d: d, store: events.NewStore(d.Pool)}
	e.srv = api.New(api.Config{
		Pool: d.Pool, Store: e.store, Registry: prometheus.NewRegistry(),
		Ready:  func(context.Context) error { return e.ready },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	token, created, err := api.SeedAdmin(context.Background(), e.store, t.TempDir())
	if err != nil || !created || token == "" {
		t.Fatalf("seed admin: %q, %v, %v", token, created, err)
	}
	e.adminToken = token
	e.project()
	return e
}

// project applies every event not yet applied to the read models the API reads,
// as the projector does, so a test sees the state a user would after a moment.
func (e *env) project() {
	e.t.Helper()
	ctx := context.Background()
	var pending int
	if err := e.d.Pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE (tx_id, seq) > ($1::text::xid8, $2)`,
		strconv.FormatUint(e.applied.TxID, 10), e.applied.Seq).Scan(&pending); err != nil {
		e.t.Fatal(err)
	}
	// ReadCommitted stops below the oldest transaction open anywhere on the server,
	// and other test processes share it: wait until they let our events through.
	var evs []events.Event
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var err error
		if evs, err = e.store.ReadCommitted(ctx, e.applied, pending+1); err != nil {
			e.t.Fatal(err)
		}
		if len(evs) >= pending {
			break
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("only %d of %d events readable in commit order after 30s", len(evs), pending)
		}
	}
	tx, err := e.d.Pool.Begin(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck
	for _, p := range []projections.Projection{projections.Users{}, projections.NewTimeline()} {
		if err := p.Setup(ctx, tx); err != nil {
			e.t.Fatal(err)
		}
		for _, ev := range evs {
			if err := p.Apply(ctx, tx, ev); err != nil {
				e.t.Fatalf("%s: apply %s: %v", p.Name(), ev.Type, err)
			}
		}
	}
	if err := tx.Commit(ctx); err != nil {
		e.t.Fatal(err)
	}
	if len(evs) > 0 {
		e.applied = evs[len(evs)-1].Order
	}
}

// response is an answer with its JSON body decoded.
type response struct {
	*httptest.ResponseRecorder
	json map[string]any
}

func (r response) str(key string) string {
	s, _ := r.json[key].(string)
	return s
}

// do sends a request with token (if any), body (if any) and header pairs.
func (e *env) do(method, path, token, body string, header ...string) response {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(rec, req)
	checkExchange(e.t, e.srv, req, body, rec)
	res := response{ResponseRecorder: rec}
	if strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(rec.Body.Bytes(), &res.json); err != nil {
			e.t.Errorf("%s %s: body %q: %v", method, path, rec.Body.String(), err) // Errorf: do runs in goroutines too
		}
	}
	return res
}

// want fails unless res has the status and, for errors, a Chinese message about field.
func want(t *testing.T, res response, status int, field string) {
	t.Helper()
	if res.Code != status {
		t.Fatalf("status %d, want %d; body %s", res.Code, status, res.Body.String())
	}
	if status < 400 {
		return
	}
	if got := res.str("field"); got != field {
		t.Fatalf("field %q, want %q; body %s", got, field, res.Body.String())
	}
	if !hasHan(res.str("error")) {
		t.Fatalf("error %q is not a Chinese message", res.str("error"))
	}
}

func hasHan(s string) bool {
	for _, r := range s {
		if r >= 0x4e00 && r <= 0x9fff {
			return true
		}
	}
	return false
}

// countEvents counts the events of stream.
func (e *env) countEvents(stream string) int {
	e.t.Helper()
	v, err := e.store.StreamVersion(context.Background(), stream)
	if err != nil {
		e.t.Fatal(err)
	}
	return int(v)
}

// register has the admin register a user and returns a token of the user's,
// issued in-process as the demo tooling does: the API hands the ministry none.
func (e *env) register(body string) string {
	e.t.Helper()
	res := e.do("POST", "/api/v1/users", e.adminToken, body)
	want(e.t, res, http.StatusCreated, "")
	var u struct {
		User struct {
			UserID string `json:"user_id"`
		} `json:"user"`
	}
	if err := json.Unmarshal(res.Body.Bytes(), &u); err != nil {
		e.t.Fatal(err)
	}
	return e.issueToken(u.User.UserID)
}

// issueToken gives userID a new token of their own.
func (e *env) issueToken(userID string) string {
	e.t.Helper()
	t, err := api.IssueToken(context.Background(), e.store, events.Metadata{ActorID: "test", Role: "system"}, userID,
		identity.TokenRequest{Label: "测试"})
	if err != nil {
		e.t.Fatal(err)
	}
	return t.Token
}
