package api_test

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"keytask/api"
	"keytask/domain/selection"
	"keytask/projections"
	"keytask/temporalx"
)

// bjMail is the address province 11's user gave for notices: only that user and
// the ministry may read it.
const bjMail = "liaison-private@bj.example.org"

// readable is what a reader of the answer sees: the body, or for an .xlsx
// (a zip) the text of every part.
func readable(t *testing.T, body []byte) string {
	t.Helper()
	if !bytes.HasPrefix(body, []byte("PK\x03\x04")) {
		return string(body)
	}
	zr, err := zip.NewReader(bytes.NewReader(body), int64(len(body)))
	if err != nil {
		t.Fatalf("workbook: %v", err)
	}
	var b strings.Builder
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(&b, rc)
		rc.Close()
	}
	return b.String()
}

// Every GET route of the route table, pages, API, replay, diff, history in all
// its formats and exports, read by every role: an objector's name and contact
// reach the ministry alone, a user's mail that user and the ministry alone.
func TestPersonalDataOnEveryReadPath(t *testing.T) {
	e := newEnv(t)
	e.withPages()
	sb := e.selectionThroughNotice()
	want(t, e.do("PUT", "/api/v1/inbox/email", sb.u.bj, `{"email":"`+bjMail+`"}`, "Idempotency-Key", "mail-bj"), http.StatusOK, "")
	e.publish(sb)
	expert := e.register(`{"user_id":"e1","name":"专家甲","role":"expert","organisation":"某大学"}`)
	evaluator := e.register(`{"user_id":"v1","name":"评估机构","role":"evaluator","organisation":"某评估机构"}`)
	e.projectSelection()
	ctx := context.Background()
	if _, err := projections.Rebuild(ctx, e.d.Pool, e.store, projections.SelectionBatches{}, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.store.SealCommitted(ctx); err != nil {
		t.Fatal(err)
	}
	hd, err := e.store.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	head := hd.Position
	readers := []struct {
		name, token    string
		objector, mail bool // what they may read
	}{
		{"ministry", e.adminToken, true, true}, {"auditor", sb.u.auditor, false, false},
		{"province 11", sb.u.bj, false, true}, {"province 12", sb.u.tj, false, false},
		{"school A", sb.u.schoolA, false, false}, {"school B", sb.u.schoolB, false, false},
		{"expert", expert, false, false}, {"evaluator", evaluator, false, false}, {"public", "", false, false},
	}
	values := map[string]string{"batch": sb.batch, "id": sb.a, "kind": "application", "province": "11", "round": "r1",
		"project": selection.ProjectID(sb.batch, sb.a), "year": "2024", "sha256": "0", "stream": sb.stream, "$": ""}
	// Every query any read path takes, so that each path shows the most it can:
	// a replay of the objections table, a diff over the whole log, a history
	// of the batch and of province 11, in every format.
	h := fmt.Sprint(head)
	queries := []url.Values{
		{}, {"as_of": {h}, "table": {"selection_batch_objections"}, "limit": {"1000"}, "from": {"0"}, "to": {h}, "rows": {"1000"},
			"position": {h}, "from_position": {"0"}, "to_position": {h}, "kind": {"batch"}, "id": {sb.batch}},
		{"kind": {"province"}, "id": {"11"}}, {"format": {"jsonl"}}, {"format": {"xlsx"}},
	}
	walked, sawObjector, sawMail := 0, map[string]bool{}, false
	for _, rt := range e.srv.Routes() {
		method, pattern, _ := strings.Cut(rt.Pattern, " ")
		if method != http.MethodGet {
			continue
		}
		path := wildcard.ReplaceAllStringFunc(pattern, func(w string) string {
			return url.PathEscape(values[wildcard.FindStringSubmatch(w)[1]])
		})
		paths := []string{path}
		if strings.Contains(pattern, "{kind}") {
			paths = append(paths, strings.Replace(path, "/application/"+sb.a, "/batch/"+sb.batch, 1),
				strings.Replace(path, "/application/"+sb.a, "/province/11", 1))
		}
		for _, p := range paths {
			for _, q := range queries {
				target := p
				if len(q) > 0 {
					target += "?" + q.Encode()
				}
				for _, rd := range readers {
					res := e.do("GET", target, rd.token, "")
					body := readable(t, res.Body.Bytes())
					walked++
					if strings.Contains(body, objectorName) || strings.Contains(body, objectorContact) {
						sawObjector[rt.Pattern] = true
						if !rd.objector {
							t.Errorf("%s reads the objector at %s (%d)", rd.name, target, res.Code)
						}
					}
					if strings.Contains(body, bjMail) {
						sawMail = true
						if !rd.mail {
							t.Errorf("%s reads province 11's mail at %s (%d)", rd.name, target, res.Code)
						}
					}
				}
			}
		}
	}
	// The walk reaches the data where the ministry may read it, so a path
	// that withheld nothing would have been caught.
	for _, p := range []string{"GET /api/v1/audit/replay", "GET /api/v1/audit/diff", "GET /web/audit/replay", "GET /web/audit/diff",
		"GET /api/v1/audit/history/{kind}/{id}", "GET /web/audit/history", "GET /api/v1/selection-batches/{batch}"} {
		if !sawObjector[p] {
			t.Errorf("the ministry does not see the objector at %s: the walk proves nothing there", p)
		}
	}
	if !sawMail {
		t.Error("no read path showed the mail to its owner or the ministry")
	}
	t.Logf("%d reads walked", walked)
}

// The codec endpoint opens sealed Temporal payloads for the ministry alone,
// and lets only the configured Temporal UI read its answers from a browser.
func TestCodecEndpoint(t *testing.T) {
	e := newEnv(t)
	_, _, auditor := e.users()
	codec, err := temporalx.NewCodec(bytes.Repeat([]byte{9}, temporalx.PayloadKeySize))
	if err != nil {
		t.Fatal(err)
	}
	p, err := temporalx.DataConverter(codec).ToPayload(map[string]string{"name": objectorName, "contact": objectorContact})
	if err != nil {
		t.Fatal(err)
	}
	body, err := protojson.Marshal(&commonpb.Payloads{Payloads: []*commonpb.Payload{p}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(body), objectorContact) {
		t.Fatal("the sealed payload shows the contact")
	}
	// Without a key the endpoint cannot answer.
	want(t, e.do("POST", "/codec/decode", e.adminToken, string(body)), http.StatusServiceUnavailable, "")

	const ui = "http://127.0.0.1:8233"
	e.srv = api.New(api.Config{Pool: e.d.Pool, Store: e.store, PayloadCodec: codec, CodecOrigin: ui})
	res := e.do("POST", "/codec/decode", e.adminToken, string(body), "Origin", ui, "X-Namespace", "default")
	if res.Code != http.StatusOK || !strings.Contains(res.Body.String(), "payloads") || res.Header().Get("Access-Control-Allow-Origin") != ui {
		t.Fatalf("the ministry decodes: %d %s (CORS %q)", res.Code, res.Body.String(), res.Header().Get("Access-Control-Allow-Origin"))
	}
	var opened commonpb.Payloads
	if err := protojson.Unmarshal(res.Body.Bytes(), &opened); err != nil || len(opened.Payloads) != 1 ||
		!strings.Contains(string(opened.Payloads[0].Data), objectorContact) {
		t.Fatalf("decoded %v, %v", opened.Payloads, err)
	}
	want(t, e.do("POST", "/codec/decode", auditor, string(body)), http.StatusForbidden, "")
	want(t, e.do("POST", "/codec/decode", "", string(body)), http.StatusUnauthorized, "Authorization")
	if res := e.do("POST", "/codec/decode", e.adminToken, string(body), "Origin", "https://evil.example"); res.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Error("another site may read the codec's answers")
	}
	if res := e.do("OPTIONS", "/codec/decode", "", "", "Origin", ui); res.Code != http.StatusNoContent || res.Header().Get("Access-Control-Allow-Headers") == "" {
		t.Errorf("preflight: %d %v", res.Code, res.Header())
	}
}
