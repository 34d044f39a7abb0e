package api_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"keytask/api"
)

// The API tests check every exchange they make against the server's own
// OpenAPI document: a request the handler accepted (2xx) must satisfy the
// documented request schema, every JSON response the documented response
// or error schema, and the handler must decode the body type its route
// declares. So a schema that drifts from its handler fails the tests that
// use the route, with a message saying what to change.

// contract is a server's document, loaded once per server.
type contract struct {
	doc    *openapi3.T
	router routers.Router
	err    error
}

var contracts sync.Map // *api.Server → *contract, guarded by contractOnce
var contractOnce sync.Map

// contractOf loads srv's document and installs its decode check, reporting to t.
func contractOf(t *testing.T, srv *api.Server) *contract {
	once, _ := contractOnce.LoadOrStore(srv, new(sync.Once))
	once.(*sync.Once).Do(func() {
		c := &contract{}
		c.doc, c.router, c.err = loadContract(srv)
		srv.CheckDecoded(func(pattern string, declared reflect.Type, decoded []reflect.Type) {
			if msg := decodeMismatch(pattern, declared, decoded); msg != "" {
				t.Error(msg)
			}
		})
		contracts.Store(srv, c)
	})
	c, _ := contracts.Load(srv)
	return c.(*contract)
}

// decodeMismatch says what to change when a handler decodes another type
// than its route declares ("" when they agree).
func decodeMismatch(pattern string, declared reflect.Type, decoded []reflect.Type) string {
	for _, d := range decoded {
		switch {
		case declared == nil:
			return fmt.Sprintf("route %s: its handler decodes the request body into %s, but the route declares no Request: "+
				"add `Request: %s{}` to its entry in the route table (api/), so that the OpenAPI document describes the body", pattern, d, typeName(d))
		case d != declared:
			return fmt.Sprintf("route %s: its handler decodes the request body into %s, but the route declares Request %s: "+
				"set `Request: %s{}` in its entry in the route table (api/)", pattern, d, declared, typeName(d))
		}
	}
	return ""
}

func typeName(t reflect.Type) string {
	if t.Name() == "" {
		return t.String()
	}
	if t.PkgPath() == "keytask/api" {
		return t.Name()
	}
	return t.String()
}

// loadContract fetches and validates srv's document with kin-openapi.
func loadContract(srv *api.Server) (*openapi3.T, routers.Router, error) {
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/openapi.json", nil))
	if rec.Code != http.StatusOK {
		return nil, nil, fmt.Errorf("GET /api/v1/openapi.json: %d %s", rec.Code, rec.Body)
	}
	doc, err := openapi3.NewLoader().LoadFromData(rec.Body.Bytes())
	if err != nil {
		return nil, nil, fmt.Errorf("load the OpenAPI document: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, nil, fmt.Errorf("the OpenAPI document is invalid: %w", err)
	}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		return nil, nil, fmt.Errorf("route the OpenAPI document: %w", err)
	}
	return doc, router, nil
}

// checkExchange validates one request and its response against srv's document.
func checkExchange(t *testing.T, srv *api.Server, req *http.Request, body string, rec *httptest.ResponseRecorder) {
	t.Helper()
	c := contractOf(t, srv)
	if c.err != nil {
		t.Error(c.err)
		return
	}
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		if rec.Code < 200 || rec.Code >= 300 {
			return // refused before any route served it (no such path, a malformed one)
		}
		t.Errorf("%s %s (answered %d) is not in the OpenAPI document: %v", req.Method, req.URL.Path, rec.Code, err)
		return
	}
	ctx := context.Background()
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: false}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
	if rec.Code >= 200 && rec.Code < 300 && strings.HasPrefix(req.Header.Get("Content-Type"), "application/json") || rec.Code >= 200 && rec.Code < 300 && body != "" && req.Header.Get("Content-Type") == "" {
		r2 := req.Clone(ctx)
		r2.Body = io.NopCloser(strings.NewReader(body))
		if r2.Header.Get("Content-Type") == "" {
			r2.Header.Set("Content-Type", "application/json")
		}
		in.Request = r2
		if route.Operation.RequestBody != nil {
			if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
				t.Errorf("%s %s: the handler accepted (%d) a request the OpenAPI document refuses — fix the route's Request type: %v",
					req.Method, req.URL.Path, rec.Code, err)
			}
		}
	}
	if !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		return
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: rec.Code, Header: rec.Header(),
		Body: io.NopCloser(bytes.NewReader(rec.Body.Bytes())), Options: opts}
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		t.Errorf("%s %s: the response (%d) does not match the OpenAPI document — fix the route's Response type or the handler: %v\nbody: %.500s",
			req.Method, req.URL.Path, rec.Code, err, rec.Body.String())
	}
}

type reflectType = reflect.Type

func reflectTypeOf(v any) reflect.Type { return reflect.TypeOf(v) }
