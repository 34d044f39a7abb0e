package api_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"keytask/api"
)

// missingFromContract lists the routes of the table that doc does not
// describe, each with what to do about it.
func missingFromContract(routes []api.Route, doc *openapi3.T) []string {
	var missing []string
	for _, rt := range routes {
		method, path, _ := strings.Cut(rt.Pattern, " ")
		path = strings.ReplaceAll(path, "{$}", "")
		path = strings.ReplaceAll(path, "...}", "}")
		item := doc.Paths.Find(path)
		if item == nil || item.GetOperation(method) == nil {
			missing = append(missing, rt.Pattern)
			continue
		}
		op := item.GetOperation(method)
		if op.Extensions["x-keytask-policy"] == nil || op.Responses.Default() == nil {
			missing = append(missing, rt.Pattern+" (without its policy or error response)")
		}
	}
	return missing
}

func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := contractOf(t, e.srv)
	if c.err != nil {
		t.Fatal(c.err)
	}
	if !c.doc.IsOpenAPI31OrLater() {
		t.Fatalf("openapi %q, want 3.1", c.doc.OpenAPI)
	}
	routes := e.srv.Routes()
	if missing := missingFromContract(routes, c.doc); len(missing) > 0 {
		t.Fatalf("routes of the table missing from /api/v1/openapi.json:\n%s", strings.Join(missing, "\n"))
	}
	// The check catches a route the document leaves out: drop one operation
	// from a copy of the document and it must be named.
	res := e.do("GET", "/api/v1/openapi.json", "", "")
	doc, err := openapi3.NewLoader().LoadFromData(res.Body.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	doc.Paths.Find("/api/v1/plan-batches").Post = nil
	if missing := missingFromContract(routes, doc); !slices.Equal(missing, []string{"POST /api/v1/plan-batches"}) {
		t.Fatalf("with POST /api/v1/plan-batches removed from the document, the check reports %q", missing)
	}
	// And a route added to the table without a document is caught too.
	extra := append(routes, api.Route{Pattern: "POST /api/v1/not-yet-documented"})
	if missing := missingFromContract(extra, c.doc); !slices.Equal(missing, []string{"POST /api/v1/not-yet-documented"}) {
		t.Fatalf("a route the document does not know: the check reports %q", missing)
	}

	// Policies, security and the error shape are in it.
	op := c.doc.Paths.Find("/api/v1/intent-rounds/{round}/provinces/{province}/submit").Post
	if op == nil || op.Security == nil || len(*op.Security) == 0 {
		t.Fatalf("the intent form's submit has no security requirement: %+v", op)
	}
	if p, _ := op.Extensions["x-keytask-policy"].(map[string]any); p["action"] != "write" || p["resource"] != "provinceForm" {
		t.Fatalf("x-keytask-policy of submit: %v", op.Extensions["x-keytask-policy"])
	}
	body := op.RequestBody.Value.Content.Get("application/json").Schema.Value
	lines := body.Properties["lines"].Value
	if lines == nil || lines.Items.Value.Properties["item"] == nil {
		t.Fatalf("the form's schema does not describe lines[].item: %+v", body.Properties)
	}
	if pub := c.doc.Paths.Find("/healthz").Get; pub.Security == nil || len(*pub.Security) != 0 {
		t.Fatalf("a public route must declare no security: %+v", pub.Security)
	}
	errSchema := c.doc.Components.Schemas["Error"].Value
	for _, f := range []string{"error", "code", "field"} {
		if errSchema.Properties[f] == nil {
			t.Fatalf("the Error schema lacks %s", f)
		}
	}
}

// A handler that decodes another body than its route declares is named,
// with the line to write.
func TestContractNamesUndeclaredBody(t *testing.T) {
	t.Parallel()
	type fooBody struct{ A string }
	msg := decodeMismatch("POST /api/v1/foo", nil, []reflectType{reflectTypeOf(fooBody{})})
	if !strings.Contains(msg, "add `Request:") || !strings.Contains(msg, "POST /api/v1/foo") {
		t.Fatalf("message %q does not tell what to add", msg)
	}
	if decodeMismatch("POST /api/v1/foo", reflectTypeOf(fooBody{}), []reflectType{reflectTypeOf(fooBody{})}) != "" {
		t.Fatal("a matching declaration reported")
	}
}

func TestRootRedirectsToPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	res := e.do("GET", "/", "", "")
	if res.Code != http.StatusFound || res.Header().Get("Location") != "/web/" {
		t.Fatalf("GET /: %d %q", res.Code, res.Header().Get("Location"))
	}
	if res := e.do("GET", "/nothing-here", "", ""); res.Code != http.StatusNotFound {
		t.Fatalf("GET /nothing-here: %d, want 404 (only / itself redirects)", res.Code)
	}
}
