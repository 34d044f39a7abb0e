package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A text holding NUL anywhere in a body is refused, naming where it is, before
// any rule or command sees it; the same body without it is read.
func TestDecodeJSONRefusesNUL(t *testing.T) {
	t.Parallel()
	type item struct {
		Note string `json:"note"`
	}
	type body struct {
		Reason  string                     `json:"reason"`
		Items   []item                     `json:"items"`
		Extra   map[string]string          `json:"extra"`
		Raw     map[string]json.RawMessage `json:"raw"`
		Pointer *string                    `json:"pointer"`
	}
	for _, c := range []struct{ body, field string }{
		{`{"reason":"a\u0000b"}`, "reason"},
		{`{"items":[{"note":"ok"},{"note":"\u0000"}]}`, "items[1].note"},
		{`{"extra":{"k":"v\u0000"}}`, "extra.k"},
		{`{"extra":{"k\u0000":"v"}}`, "extra.k\x00"},
		{`{"raw":{"school":"1\u0000"}}`, "raw.school"},
		{`{"raw":{"list":["x",{"y":"\u0000"}]}}`, "raw.list[1].y"},
		{`{"pointer":"\u0000"}`, "pointer"},
		{`{"reason":"ok","items":[{"note":"fine"}],"extra":{"k":"v"},"raw":{"school":"12.5","t":"\\u0000"},"pointer":"p"}`, ""},
	} {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(c.body))
		var dst body
		err := decodeJSON(httptest.NewRecorder(), r, &dst)
		if c.field == "" {
			if err != nil {
				t.Errorf("%s: %v", c.body, err)
			}
			continue
		}
		he, ok := err.(*httpError)
		if !ok || he.status != http.StatusBadRequest || he.field != c.field || !strings.Contains(he.message, "无效字符") {
			t.Errorf("%s: got %#v, want 400 naming %q", c.body, err, c.field)
		}
	}
}

// A posted form value or name holding NUL is refused naming it; a clean form
// passes.
func TestFormNUL(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ body, field string }{
		{"reason=a%00b&csrf_token=x", "reason"},
		{"a%00=1", "a\x00"},
		{"reason=%E9%80%80%E5%9B%9E&csrf_token=x", ""},
	} {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(c.body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		err := formNUL(r)
		if c.field == "" {
			if err != nil {
				t.Errorf("%s: %v", c.body, err)
			}
			continue
		}
		he, ok := err.(*httpError)
		if !ok || he.status != http.StatusBadRequest || he.field != c.field {
			t.Errorf("%s: got %#v, want 400 naming %q", c.body, err, c.field)
		}
	}
}
