package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"keytask/db/pgtest"
	"keytask/domain"
	"keytask/domain/identity"
	"keytask/domain/intent"
	"keytask/domain/selection"
	"keytask/events"
	"keytask/projections"
)

// fuzzItems is the catalogue the fuzzed intent forms are validated against.
var fuzzItems = []intent.TaskItem{
	{Item: "1.1", Code: "KFBZ", Name: "开发标准", Kind: intent.KindDevelopment},
	{Item: "2.1", Code: "YZYX", Name: "遴选优质技工院校", Target: 200, Unit: "所", Kind: intent.KindSelection},
}

// FuzzDecodeIntentForm sends an intent form body through the API's decoder and
// then the domain's validator, the path of PUT …/draft and POST …/submit. Every
// refusal is a 400/413/422 with a Chinese message; a decoder error that names a
// field names one the body spells; an accepted body encodes back to one that
// decodes to the same input.
func FuzzDecodeIntentForm(f *testing.F) {
	for _, s := range []string{
		`{"lines":[{"item":"2.1","undertake":true,"quantity":3,"funds":{"school":"1.5"}}],"total":"1.5"}`,
		`{"lines":[{"item":"1.1","undertake":false}]}`,
		`{"lines":[]} {}`, `{"lines":[{"item":2}]}`, `{"lines":{}}`, `{"line":[]}`, `[]`, ``, `{`, `null`,
		`{"lines":[{"item":"2.1","funds":[1]}]}`, `{"lines":[{"item":"2.1","funds":{"school":1e3}}]}`,
		`{"lines":[{"item":"2.1","undertake":true,"quantity":1,"bogus":1}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var in intent.FormInput
		err := decodeJSON(httptest.NewRecorder(), httptest.NewRequest(http.MethodPut, "/", bytes.NewReader(body)), &in)
		if err != nil {
			var he *httpError
			if !errors.As(err, &he) || (he.status != http.StatusBadRequest && he.status != http.StatusRequestEntityTooLarge) {
				t.Fatalf("decode(%q): %T %v is not a 400/413", body, err, err)
			}
			if !hasHan(he.message) {
				t.Fatalf("decode(%q): message %q", body, he.message)
			}
			for _, part := range strings.Split(he.field, ".") {
				// encoding/json matches keys without regard to case ("liNes" fills
				// lines), so the body may spell the field in any case.
				if !bytes.Contains(foldCase(body), foldCase([]byte(part))) && !jsonEscapedIn(body, part) {
					t.Fatalf("decode(%q): error names field %q, which the body does not spell", body, he.field)
				}
			}
			return
		}
		if !json.Valid(bytes.TrimSpace(body)) {
			t.Fatalf("decode accepted invalid JSON %q", body)
		}
		enc, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		var again intent.FormInput
		if err := decodeJSON(httptest.NewRecorder(), httptest.NewRequest(http.MethodPut, "/", bytes.NewReader(enc)), &again); err != nil {
			t.Fatalf("decode(%q) accepted; its encoding %s is refused: %v", body, enc, err)
		}
		if enc2, _ := json.Marshal(again); !bytes.Equal(enc, enc2) {
			t.Fatalf("decode(%q): %s decodes back to %s", body, enc, enc2)
		}
		if _, err := intent.Validate(fuzzItems, in); err != nil {
			var fe *domain.FieldError
			if !errors.As(err, &fe) || fe.Field == "" || !hasHan(fe.Message) {
				t.Fatalf("Validate after decode(%q): %T %v names no field", body, err, err)
			}
		}
	})
}

// jsonEscapedIn reports whether the body spells name with JSON escapes (\u0061).
func jsonEscapedIn(body []byte, name string) bool {
	dec := json.NewDecoder(bytes.NewReader(body))
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		if s, ok := tok.(string); ok && s == name {
			return true
		}
	}
}

var objectionFields = []string{"name", "contact", "id_card", "application", "text"}

// FuzzObjectionForm posts the public objection form as a browser would
// (application/x-www-form-urlencoded) and checks it as publicObjection does.
// Errors are keyed by fields of the form, in Chinese; an accepted form has a
// real name, a contact, a listed application and bounded grounds.
func FuzzObjectionForm(f *testing.F) {
	list := []string{"a1", "a2"}
	for _, s := range []string{
		"name=%E5%BC%A0%E4%B8%89&contact=13800000000&application=a1&text=%E6%9D%90%E6%96%99%E4%B8%8D%E5%AE%9E",
		"name=x&contact=x%40example.cn&id_card=11010519491231002X&application=a2&text=t",
		"name=&contact=&application=&text=", "name=a&contact=010-12345678&application=a3&text=b",
		"contact=a+b%40c&name=%20&text=%00", "name=a&contact=%3Cx%40y%3E&application=a1&text=b&id_card=1",
		"%zz", "name=a;b&contact=a@b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest(http.MethodPost, "/public/notices/b1/objections", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if err := r.ParseForm(); err != nil {
			return // answered 400 无法读取表单
		}
		form := map[string]string{}
		for _, k := range objectionFields {
			form[k] = strings.TrimSpace(r.PostForm.Get(k))
		}
		errs := validateObjection(form, list)
		for k, msg := range errs {
			if !slices.Contains(objectionFields, k) || !hasHan(msg) {
				t.Fatalf("form %q: error %q: %q is not a Chinese message on a field of the form", body, k, msg)
			}
		}
		if len(errs) > 0 {
			return
		}
		name, text := utf8.RuneCountInString(form["name"]), utf8.RuneCountInString(form["text"])
		switch {
		case name < 1 || name > 50:
			t.Fatalf("form %q accepted a name of %d characters", body, name)
		case form["contact"] == "":
			t.Fatalf("form %q accepted no contact", body)
		case !slices.Contains(list, form["application"]):
			t.Fatalf("form %q accepted application %q, not on the list", body, form["application"])
		case text < 1 || text > selection.MaxTextRunes:
			t.Fatalf("form %q accepted grounds of %d characters", body, text)
		case form["id_card"] != "" && len(form["id_card"]) != 18:
			t.Fatalf("form %q accepted id card %q", body, form["id_card"])
		}
		// What the form accepted, the web form would send again unchanged.
		again := url.Values{}
		for k, v := range form {
			again.Set(k, v)
		}
		r2 := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(again.Encode()))
		r2.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if err := r2.ParseForm(); err != nil {
			t.Fatal(err)
		}
		form2 := map[string]string{}
		for _, k := range objectionFields {
			form2[k] = strings.TrimSpace(r2.PostForm.Get(k))
		}
		if errs := validateObjection(form2, list); len(errs) > 0 || fmt.Sprint(form) != fmt.Sprint(form2) {
			t.Fatalf("form %q accepted as %v; sent again it reads %v with errors %v", body, form, form2, errs)
		}
	})
}

// fuzzServer is a server over a fresh database whose timeline holds a few
// entries of stream "s1", for the fuzz targets of query parameters.
func fuzzServer(f *testing.F) *Server {
	f.Helper()
	d := pgtest.New(f)
	store := events.NewStore(d.Pool)
	ctx := context.Background()
	var evs []events.NewEvent
	for i := 0; i < 5; i++ {
		evs = append(evs, events.NewEvent{ID: events.DeriveID("s1", strconv.Itoa(i)), Type: "Noted", SchemaVersion: 1,
			Data: json.RawMessage(`{}`), Metadata: events.Metadata{ActorID: "u1", Role: "ministry"}})
	}
	if _, err := store.Append(ctx, "s1", 0, evs...); err != nil {
		f.Fatal(err)
	}
	tl := projections.NewTimeline()
	if err := projections.Setup(ctx, d.Pool, tl); err != nil {
		f.Fatal(err)
	}
	if _, err := projections.Rebuild(ctx, d.Pool, store, tl, nil); err != nil {
		f.Fatal(err)
	}
	if err := projections.Setup(ctx, d.Pool, projections.All()...); err != nil {
		f.Fatal(err)
	}
	return New(Config{Pool: d.Pool, Store: store, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
}

var fuzzAdmin = identity.Principal{UserID: "admin", Name: "管理员", Role: identity.RoleMinistry, Organisation: identity.MinistryOrganisation}

// FuzzTimelineQuery reads a timeline with any query string. The answer is 200
// exactly when ?limit= is absent or a whole number 1..1000, and then holds at
// most that many entries of the stream asked for; otherwise 400 naming "limit".
func FuzzTimelineQuery(f *testing.F) {
	for _, q := range []string{"", "limit=2", "limit=0", "limit=1000", "limit=1001", "limit=-1", "limit=abc", "limit=%2B3",
		"limit=3&limit=x", "limit=", "limit=99999999999999999999", "other=1", "%zz"} {
		f.Add(q)
	}
	s := fuzzServer(f)
	f.Fuzz(func(t *testing.T, query string) {
		r := httptest.NewRequest(http.MethodGet, "/api/v1/streams/s1/timeline", nil)
		r.URL.RawQuery = query
		r.SetPathValue("stream", "s1")
		r = r.WithContext(withPrincipal(r.Context(), fuzzAdmin))
		w := httptest.NewRecorder()
		err := s.timeline(w, r)
		v := r.URL.Query().Get("limit")
		n, perr := strconv.Atoi(v)
		valid := v == "" || (perr == nil && n >= 1 && n <= maxTimelineLimit)
		if v == "" {
			n = defaultTimelineLimit
		}
		if !valid {
			var he *httpError
			if !errors.As(err, &he) || he.status != http.StatusBadRequest || he.field != "limit" || !hasHan(he.message) {
				t.Fatalf("?%s: %v, want 400 naming limit", query, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("?%s refused: %v", query, err)
		}
		var body struct {
			Stream  string            `json:"stream_id"`
			Entries []json.RawMessage `json:"entries"`
		}
		if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &body) != nil || body.Stream != "s1" {
			t.Fatalf("?%s: %d %s", query, w.Code, w.Body)
		}
		if want := min(n, 5); len(body.Entries) != want {
			t.Fatalf("?%s: %d entries, want %d", query, len(body.Entries), want)
		}
	})
}

// FuzzListApplicationsQuery lists applications with any filter in the query:
// the answer is 200 with a list, or 400 naming the filter whose value is not
// text Postgres can compare (NUL, invalid UTF-8); never a server error.
func FuzzListApplicationsQuery(f *testing.F) {
	for _, q := range []string{"", "task=YZYX", "province=11&status=submitted", "batch=%00", "status=%27%3B--", "task=" + strings.Repeat("x", 300), "province=%ff"} {
		f.Add(q)
	}
	s := fuzzServer(f)
	f.Fuzz(func(t *testing.T, query string) {
		r := httptest.NewRequest(http.MethodGet, "/api/v1/applications", nil)
		r.URL.RawQuery = query
		r = r.WithContext(withPrincipal(r.Context(), fuzzAdmin))
		w := httptest.NewRecorder()
		if err := s.listApplications(w, r); err != nil {
			var he *httpError
			if !errors.As(err, &he) || he.status != http.StatusBadRequest || !hasHan(he.message) {
				t.Fatalf("?%q: %v", query, err)
			}
			v := r.URL.Query().Get(he.field)
			if !slices.Contains([]string{"task", "province", "batch", "status"}, he.field) || (utf8.ValidString(v) && !strings.ContainsRune(v, 0)) {
				t.Fatalf("?%q: refused naming %q (%q), which is valid text", query, he.field, v)
			}
			return
		}
		var body struct {
			Applications []json.RawMessage `json:"applications"`
		}
		if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &body) != nil || body.Applications == nil {
			t.Fatalf("?%q: %d %s", query, w.Code, w.Body)
		}
		// The expert pool's ?task= filter reads the same parameter the same way.
		w = httptest.NewRecorder()
		if err := s.listExperts(w, r); err != nil || w.Code != http.StatusOK {
			t.Fatalf("experts ?%q: %d, %v", query, w.Code, err)
		}
	})
}

// hasHan reports whether s holds a Chinese character: users read messages in Chinese.
func hasHan(s string) bool {
	for _, r := range s {
		if r >= 0x4e00 && r <= 0x9fff {
			return true
		}
	}
	return false
}

// foldCase maps every rune to the smallest rune of its Unicode simple-folding
// orbit, so two strings equal under case folding (as encoding/json matches
// keys, Kelvin sign and long s included) map to the same bytes.
func foldCase(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for _, r := range string(b) {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		out = utf8.AppendRune(out, least)
	}
	return out
}
