// Package api is keytask's HTTP interface. Every route declares the policy that
// guards it (see Route); a request is authenticated by bearer token, decided by
// package policy, and answered in JSON whose error messages are in Simplified
// Chinese and name the field at fault.
package api

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.temporal.io/sdk/client"

	"keytask/app"
	"keytask/attachments"
	"keytask/domain/identity"
	"keytask/domain/intent"
	"keytask/domain/policy"
	"keytask/events"
	"keytask/temporalx"
)

// Config is what a Server needs.
type Config struct {
	Pool     *pgxpool.Pool // acts as the writer role; read models are queried here
	Store    *events.Store
	Registry *prometheus.Registry // HTTP metrics go here and /metrics serves it; nil means a private one
	// Ready reports whether Temporal can be used; /readyz/commands calls it. Nil means
	// Temporal is not checked.
	Ready  func(ctx context.Context) error
	Logger *slog.Logger // nil means slog.Default()
	// Temporal starts workflows and sends them people's commands. Nil leaves the
	// commands that go through a workflow answering 503; everything else works.
	Temporal client.Client
	// MaxAttachmentSize bounds an uploaded file; 0 means attachments.DefaultMaxSize.
	MaxAttachmentSize int64
	// SecureCookies marks cookies Secure and sends Strict-Transport-Security
	// even on plain HTTP: for a server behind a proxy that terminates TLS.
	SecureCookies bool
	// PayloadCodec seals Temporal payloads; /codec/encode and /codec/decode
	// use it for the Temporal UI and CLI. Nil answers them 503.
	PayloadCodec *temporalx.Codec
	// CodecOrigin is the Temporal UI's origin (http://host:port), the one site
	// whose pages may read the codec's answers.
	CodecOrigin string
	// MetricsElsewhere leaves /metrics out of this handler: production serves
	// it on an internal address (KEYTASK_METRICS_ADDR), not the public port.
	MetricsElsewhere bool
	// BatchTime maps a wall-clock instant to the selection batches' clock;
	// nil is the identity, which is what production runs on. A site whose
	// worker runs the batches on a workflows.DilatedClock sets its At here,
	// so that the API compares the times a batch recorded (a notice's end, a
	// correction window) with the batch's present, not with the wall clock.
	BatchTime func(time.Time) time.Time
	// AwaitProjections names the projections a write waits for before it
	// answers: a client told that its write succeeded can read what it wrote
	// at once (read your writes), and a command it sends next that checks a
	// read model finds it there. Empty answers at once (tests that apply the
	// read models themselves).
	AwaitProjections []string
}

// Server serves keytask's HTTP API.
type Server struct {
	pool  *pgxpool.Pool
	store *events.Store
	reg   *prometheus.Registry
	ready func(context.Context) error
	tc    client.Client
	files *attachments.Store
	app   *app.App // the commands on aggregates without a workflow
	// schoolRegister answers what the school register holds for school codes
	// (see schoolsNamed); nil while there is no register.
	schoolRegister func(ctx context.Context, codes []string) (map[string]intent.School, error)
	log            *slog.Logger
	metrics        httpMetrics
	routes         []Route
	handler        http.Handler

	secureCookies bool
	noMetrics     bool
	payloadCodec  *temporalx.Codec
	codecOrigin   string
	logins        *loginLimiter
	batchTime     func(time.Time) time.Time
	contractCache
	// checkDecoded, when set (tests), is told after each request which body
	// types its handler decoded, beside the type its route declares.
	checkDecoded func(pattern string, declared reflect.Type, decoded []reflect.Type)
	awaitNames   []string
}

// batchNow is the selection batches' present moment (see Config.BatchTime).
func (s *Server) batchNow() time.Time {
	if s.batchTime == nil {
		return time.Now()
	}
	return s.batchTime(time.Now())
}

// Route is one endpoint and the access rule it declares. A route is either Public
// or names the Action it performs and the Resource it performs it on; the server
// asks policy.Decide before the handler runs, and a route that declares neither is
// refused to everyone.
type Route struct {
	Pattern string // http.ServeMux pattern, such as "GET /api/v1/users"
	Public  bool   // served without authentication (probes and metrics)
	Action  policy.Action
	// Resource describes what the request touches, for the policy to decide on.
	Resource func(r *http.Request, p identity.Principal) (policy.Resource, error)
	// Request is a value of the type the handler decodes its JSON body into
	// (nil for none), Response one of the type it answers with on success
	// (nil when it is not declared). The OpenAPI document derives its
	// schemas from them; the contract test checks that the handler decodes
	// what Request says.
	Request, Response any

	handle func(w http.ResponseWriter, r *http.Request) error
	// page routes answer a browser: errors as HTML, a missing login as a
	// redirect to the login page.
	page bool
	// noCSRF exempts a route that changes nothing from the session's CSRF
	// token (the codec, called by the Temporal UI's pages).
	noCSRF bool
}

// Path is the pattern without its method: the route label of the HTTP metrics.
func (rt Route) Path() string {
	if _, path, ok := strings.Cut(rt.Pattern, " "); ok {
		return path
	}
	return rt.Pattern
}

// New returns a server and registers its HTTP metrics on cfg.Registry (servers
// sharing a registry share the metrics). Like http.ServeMux for a bad pattern, it
// panics when Pool or Store is missing: that is a bug, not a condition to handle.
func New(cfg Config) *Server {
	if cfg.Pool == nil || cfg.Store == nil {
		panic("api: Config.Pool and Config.Store are required")
	}
	s := &Server{pool: cfg.Pool, store: cfg.Store, reg: cfg.Registry, ready: cfg.Ready, tc: cfg.Temporal, log: cfg.Logger,
		files: attachments.NewStore(cfg.Pool, cfg.MaxAttachmentSize), secureCookies: cfg.SecureCookies, noMetrics: cfg.MetricsElsewhere, logins: newLoginLimiter(),
		payloadCodec: cfg.PayloadCodec, codecOrigin: cfg.CodecOrigin,
		batchTime: cfg.BatchTime, awaitNames: slices.Clone(cfg.AwaitProjections)}
	s.app = app.New(s.store, s.files, s.batchNow)
	s.schoolRegister = func(ctx context.Context, codes []string) (map[string]intent.School, error) {
		out := make(map[string]intent.School, len(codes))
		for _, code := range codes {
			sc, found, err := app.LoadSchool(ctx, s.store, code)
			if err != nil {
				return nil, err
			}
			if found {
				out[code] = intent.School{Code: sc.Code, Name: sc.Name, Province: sc.Province}
			}
		}
		return out, nil
	}
	if s.reg == nil {
		s.reg = prometheus.NewRegistry()
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.metrics = newHTTPMetrics(s.reg)
	registered(s.reg, prometheus.Collector(newCollectionMetrics(s.pool)))
	s.routes = s.routeTable()
	mux := http.NewServeMux()
	for _, rt := range s.routes {
		mux.Handle(rt.Pattern, s.metrics.instrument(rt.Path(), s.serve(rt)))
	}
	s.handler = withRequestID(s.securityHeaders(mux))
	return s
}

// Handler returns the server's HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Routes returns every route the handler serves, with its declared policy.
func (s *Server) Routes() []Route { return append([]Route(nil), s.routes...) }

// routeTable is the whole API. An access-matrix test enumerates it through Routes.
func (s *Server) routeTable() []Route {
	routes := []Route{
		{Pattern: "GET /healthz", Public: true, handle: s.healthz},
		{Pattern: "GET /readyz", Public: true, handle: s.readyz, Response: readiness{}},
		{Pattern: "GET /readyz/commands", Public: true, handle: s.readyzCommands, Response: readiness{}},
		{Pattern: "GET /api/v1/openapi.json", Public: true, handle: s.openAPI},
		{Pattern: "GET /{$}", Public: true, handle: func(w http.ResponseWriter, r *http.Request) error {
			http.Redirect(w, r, "/web/", http.StatusFound)
			return nil
		}},
	}
	if !s.noMetrics {
		metrics := promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg})
		routes = append(routes, Route{Pattern: "GET /metrics", Public: true, handle: func(w http.ResponseWriter, r *http.Request) error {
			metrics.ServeHTTP(w, r)
			return nil
		}})
	}
	return slices.Concat(routes, []Route{
		{Pattern: "GET /api/v1/me", Action: policy.ActionRead, Resource: ownAccount, handle: s.me, Response: userView{}},
		{Pattern: "GET /api/v1/users", Action: policy.ActionRead, Resource: allUsers, handle: s.listUsers},
		{Pattern: "POST /api/v1/users", Action: policy.ActionAdminister, Resource: allUsers, handle: s.registerUser, Request: registerRequest{}, Response: registerResponse{}},
		{Pattern: "GET /api/v1/streams/{stream}/timeline", Action: policy.ActionRead, Resource: streamOf, handle: s.timeline},
	}, s.intentRoutes(), s.schoolRoutes(), s.importRoutes(), s.selectionRoutes(), s.selectionBatchRoutes(), s.publicRoutes(),
		s.performanceRoutes(), s.inboxRoutes(), s.trackingRoutes(), s.developmentRoutes(), s.auditRoutes(), s.auditPageRoutes(), s.webRoutes(), s.tokenRoutes(), s.codecRoutes(), s.progressRoutes())
}

// serve authenticates and authorises a request for rt, then runs its handler.
func (s *Server) serve(rt Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fail := s.fail
		if rt.page {
			fail = s.failPage
		}
		if !rt.Public {
			p, sess, err := s.authenticateAny(r)
			if err != nil {
				fail(w, r, err)
				return
			}
			ctx := withPrincipal(r.Context(), p)
			if sess != nil {
				ctx = withSession(ctx, sess)
			}
			if sess != nil && !rt.noCSRF {
				if err := s.checkCSRF(w, r, sess); err != nil {
					fail(w, r, err)
					return
				}
			}
			r = r.WithContext(ctx)
			if err := s.authorize(r, rt, p); err != nil {
				fail(w, r, err)
				return
			}
		}
		call := &routeCall{}
		r = r.WithContext(context.WithValue(r.Context(), routeCallKey, call))
		var release func()
		if !rt.Public && !rt.page {
			var err error
			if release, err = s.claimKey(r, rt, principal(r.Context()).UserID); err != nil {
				fail(w, r, err)
				return
			}
		}
		if len(s.awaitNames) > 0 && r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodOptions {
			w = &awaitWriter{ResponseWriter: w, await: func() { s.awaitProjections(r) }}
		}
		if release == nil {
			if err := rt.handle(w, r); err != nil {
				fail(w, r, err)
			}
		} else {
			sw := &statusRecorder{ResponseWriter: w}
			if err := rt.handle(sw, r); err != nil {
				fail(sw, r, err)
			}
			if sw.status >= 400 && sw.status < 500 {
				release()
			}
		}
		if s.checkDecoded != nil {
			var declared reflect.Type
			if rt.Request != nil {
				declared = reflect.TypeOf(rt.Request)
			}
			s.checkDecoded(rt.Pattern, declared, call.decoded)
		}
	})
}

func (s *Server) authorize(r *http.Request, rt Route, p identity.Principal) error {
	if rt.Resource == nil {
		return fmt.Errorf("%w: route %s declares no policy", policy.ErrForbidden, rt.Pattern)
	}
	res, err := rt.Resource(r, p)
	if err != nil {
		return err
	}
	if err := policy.Decide(p, rt.Action, res); err != nil {
		s.log.InfoContext(r.Context(), "access denied", "route", rt.Pattern, "request_id", requestID(r.Context()), "reason", err)
		return err
	}
	return nil
}
