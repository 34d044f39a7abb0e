package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"keytask/api"
	"keytask/domain/selection"
	"keytask/events"
	"keytask/projections"
)

var selectionProjections = []projections.Projection{projections.SelectionApplications{}, projections.SelectionExperts{}}

func (e *env) projectSelection() {
	e.t.Helper()
	e.project()
	for _, p := range selectionProjections {
		if _, err := projections.Rebuild(context.Background(), e.d.Pool, e.store, p, nil); err != nil {
			e.t.Fatal(err)
		}
	}
}

// openSelectionBatch records a batch's opening as its workflow would.
func (e *env) openSelectionBatch(id, item, task string) {
	e.t.Helper()
	data, _ := json.Marshal(selection.SelectionBatchOpened{BatchID: id, TaskItem: item, TaskType: task, Quota: 10})
	if _, err := e.store.Append(context.Background(), selection.SelectionBatchStream(id), events.NoStream, events.NewEvent{
		ID: events.DeriveID("test-batch", id), Type: selection.TypeSelectionBatchOpened, SchemaVersion: 1, Data: data,
		Metadata: events.Metadata{ActorID: "admin", Role: "ministry"},
	}); err != nil {
		e.t.Fatal(err)
	}
}

type selectionUsers struct{ schoolA, schoolB, bj, tj, auditor string }

func (e *env) selectionUsers() selectionUsers {
	e.t.Helper()
	var u selectionUsers
	u.bj, u.tj, u.auditor = e.users()
	u.schoolA = e.register(`{"user_id":"sa","name":"北京技师学院","role":"school","organisation":"11-001"}`)
	u.schoolB = e.register(`{"user_id":"sb","name":"天津技师学院","role":"school","organisation":"12-001"}`)
	e.project()
	return u
}

// upload posts a multipart form with content under field.
func (e *env) upload(path, token, field, name string, content []byte) response {
	e.t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	fw, err := mw.CreateFormFile(field, name)
	if err != nil {
		e.t.Fatal(err)
	}
	_, _ = fw.Write(content)
	_ = mw.Close()
	req := httptest.NewRequest("POST", path, &b)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(rec, req)
	res := response{ResponseRecorder: rec}
	if strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		_ = json.Unmarshal(rec.Body.Bytes(), &res.json)
	}
	return res
}

const yzyxFull = `{"school_name":"北京技师学院","founding_year":1958,"enrolment":5000,"teachers":300,"key_majors":"数控加工"}`

func TestApplicationsAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u := e.selectionUsers()
	e.openSelectionBatch("2022-yzyx", "2.1", "YZYX")
	e.openSelectionBatch("2022-lmjt", "3", "LMJT")

	create := `{"batch_id":"2022-yzyx","title":"北京技师学院申报优质技工院校","province":"11","fields":{"enrolment":5000}}`
	res := e.do("POST", "/api/v1/applications", u.schoolA, create, "Idempotency-Key", "a-1")
	want(t, res, http.StatusCreated, "")
	idA := res.str("application_id")
	stream := selection.ApplicationStream(idA)

	t.Run("IdempotentCreate", func(t *testing.T) {
		res := e.do("POST", "/api/v1/applications", u.schoolA, create, "Idempotency-Key", "a-1")
		want(t, res, http.StatusOK, "")
		if res.str("application_id") != idA || res.json["replayed"] != true || e.countEvents(stream) != 2 {
			t.Fatalf("retry: %s; %d events", res.Body, e.countEvents(stream))
		}
		other := strings.Replace(create, "申报优质", "再次申报优质", 1)
		want(t, e.do("POST", "/api/v1/applications", u.schoolA, other, "Idempotency-Key", "a-1"), http.StatusUnprocessableEntity, "Idempotency-Key")
		want(t, e.do("POST", "/api/v1/applications", u.schoolA, create), http.StatusBadRequest, "Idempotency-Key")
	})
	t.Run("ValidationNamesFieldAndAppendsNothing", func(t *testing.T) {
		before := e.countEvents(stream)
		for _, c := range []struct{ body, field string }{
			{`{"batch_id":"2022-yzyx","title":"x","province":"11","fields":{"enrolment":-1}}`, "fields.enrolment"},
			{`{"batch_id":"2022-yzyx","title":"x","province":"11","fields":{"majors":"x"}}`, "fields.majors"},
			{`{"batch_id":"nope","title":"x","province":"11"}`, "batch_id"},
			{`{"batch_id":"2022-yzyx","title":"","province":"11"}`, "title"},
		} {
			res := e.do("POST", "/api/v1/applications", u.schoolA, c.body, "Idempotency-Key", "bad-"+c.field)
			want(t, res, http.StatusUnprocessableEntity, c.field)
			if msg := res.str("error"); c.field == "fields.enrolment" && msg != "在校生人数须为非负整数" {
				t.Fatalf("message %q", msg)
			}
		}
		res := e.do("PUT", "/api/v1/applications/"+idA, u.schoolA, `{"title":"x","fields":{"teachers":"三百"}}`)
		want(t, res, http.StatusUnprocessableEntity, "fields.teachers")
		if e.countEvents(stream) != before {
			t.Fatal("a refused request appended events")
		}
		var n int
		if err := e.d.Pool.QueryRow(context.Background(), `SELECT count(*) FROM events WHERE type = $1`, selection.TypeApplicationCreated).Scan(&n); err != nil || n != 1 {
			t.Fatalf("%d applications created, %v", n, err)
		}
	})
	t.Run("ProvinceFilesOnlyForAlliancesAndCourses", func(t *testing.T) {
		want(t, e.do("POST", "/api/v1/applications", u.bj, `{"batch_id":"2022-yzyx","title":"代报","school":"11-001"}`, "Idempotency-Key", "p-1"),
			http.StatusUnprocessableEntity, "batch_id")
		res := e.do("POST", "/api/v1/applications", u.bj, `{"batch_id":"2022-lmjt","title":"京津冀技工教育联盟","school":"11-001",
			"fields":{"alliance_name":"京津冀技工教育联盟","members":["11-001","12-001"],"lead_school":"11-001"}}`, "Idempotency-Key", "p-2")
		want(t, res, http.StatusCreated, "")
		// Only the ministry's own staff may open the pool; the ministry never files.
		want(t, e.do("POST", "/api/v1/applications", e.adminToken, create, "Idempotency-Key", "m-1"), http.StatusForbidden, "")
		want(t, e.do("POST", "/api/v1/applications", u.auditor, create, "Idempotency-Key", "au-1"), http.StatusForbidden, "")
	})

	resB := e.do("POST", "/api/v1/applications", u.schoolB, `{"batch_id":"2022-yzyx","title":"天津技师学院","province":"12"}`, "Idempotency-Key", "b-1")
	want(t, resB, http.StatusCreated, "")
	idB := resB.str("application_id")

	pdf := []byte("%PDF-1.4\n申报书")
	t.Run("Attachments", func(t *testing.T) {
		res := e.upload("/api/v1/applications/"+idA+"/attachments", u.schoolA, "file", "申报书.pdf", pdf)
		want(t, res, http.StatusCreated, "")
		sha := res.str("sha256")
		if len(sha) != 64 || res.str("media_type") != "application/pdf" {
			t.Fatalf("upload: %s", res.Body)
		}
		before := e.countEvents(stream)
		again := e.upload("/api/v1/applications/"+idA+"/attachments", u.schoolA, "file", "申报书-副本.pdf", pdf)
		want(t, again, http.StatusOK, "")
		if again.str("sha256") != sha || e.countEvents(stream) != before {
			t.Fatalf("second upload of the same content: %s", again.Body)
		}
		// School B stores the same content: one row, two references.
		want(t, e.upload("/api/v1/applications/"+idB+"/attachments", u.schoolB, "file", "b.pdf", pdf), http.StatusCreated, "")
		var rows int
		if err := e.d.Pool.QueryRow(context.Background(), `SELECT count(*) FROM attachments`).Scan(&rows); err != nil || rows != 1 {
			t.Fatalf("%d stored files, %v", rows, err)
		}

		want(t, e.upload("/api/v1/applications/"+idA+"/attachments", u.schoolA, "file", "evil.pdf", []byte("MZ\x90\x00 pretending")),
			http.StatusUnprocessableEntity, "file")
		want(t, e.upload("/api/v1/applications/"+idA+"/attachments", u.schoolA, "document", "x.pdf", pdf),
			http.StatusUnprocessableEntity, "file")
		if e.countEvents(stream) != before {
			t.Fatal("a refused upload appended events")
		}

		e.projectSelection()
		get := func(token string) int {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest("GET", "/api/v1/attachments/"+sha, nil)
			req.Header.Set("Authorization", "Bearer "+token)
			e.srv.Handler().ServeHTTP(rec, req)
			if rec.Code == http.StatusOK && (!bytes.Equal(rec.Body.Bytes(), pdf) || rec.Header().Get("Content-Type") != "application/pdf") {
				t.Fatalf("download: %q %s", rec.Body.String(), rec.Header())
			}
			return rec.Code
		}
		for name, c := range map[string]struct {
			token string
			code  int
		}{
			"SchoolA": {u.schoolA, 200}, "SchoolB": {u.schoolB, 200}, "Beijing": {u.bj, 200},
			"Auditor": {u.auditor, 200}, "Ministry": {e.adminToken, 200},
		} {
			if got := get(c.token); got != c.code {
				t.Fatalf("%s: %d, want %d", name, got, c.code)
			}
		}
		// A file only school A refers to is out of school B's and Tianjin's reach.
		png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
		only := e.upload("/api/v1/applications/"+idA+"/attachments", u.schoolA, "file", "a.png", png)
		want(t, only, http.StatusCreated, "")
		e.projectSelection()
		sha = only.str("sha256")
		pdf = png
		if got := get(u.schoolB); got != http.StatusNotFound {
			t.Fatalf("school B reads school A's file: %d", got)
		}
		if got := get(u.tj); got != http.StatusNotFound {
			t.Fatalf("Tianjin reads a Beijing school's file: %d", got)
		}
	})
	t.Run("Scope", func(t *testing.T) {
		e.projectSelection()
		want(t, e.do("GET", "/api/v1/applications/"+idA, u.schoolB, ""), http.StatusNotFound, "")
		want(t, e.do("PUT", "/api/v1/applications/"+idA, u.schoolB, `{"title":"改","fields":{}}`), http.StatusNotFound, "")
		want(t, e.do("POST", "/api/v1/applications/"+idA+"/submit", u.schoolB, ""), http.StatusNotFound, "")
		want(t, e.do("GET", "/api/v1/applications/"+idA, u.tj, ""), http.StatusNotFound, "")
		// Beijing reads its school's application but never writes it.
		want(t, e.do("GET", "/api/v1/applications/"+idA, u.bj, ""), http.StatusOK, "")
		want(t, e.do("PUT", "/api/v1/applications/"+idA, u.bj, `{"title":"改","fields":{}}`), http.StatusForbidden, "")
		want(t, e.do("PUT", "/api/v1/applications/"+idA, e.adminToken, `{"title":"改","fields":{}}`), http.StatusForbidden, "")
		want(t, e.do("GET", "/api/v1/applications/nope", u.schoolA, ""), http.StatusNotFound, "")

		ids := func(token, query string) []string {
			res := e.do("GET", "/api/v1/applications"+query, token, "")
			want(t, res, http.StatusOK, "")
			var out []string
			for _, a := range res.json["applications"].([]any) {
				out = append(out, a.(map[string]any)["application_id"].(string))
			}
			return out
		}
		if got := ids(u.schoolA, ""); len(got) != 1 || got[0] != idA {
			t.Fatalf("school A lists %v", got)
		}
		if got := ids(u.tj, ""); len(got) != 1 || got[0] != idB {
			t.Fatalf("Tianjin lists %v", got)
		}
		if got := ids(u.bj, "?task=YZYX"); len(got) != 1 || got[0] != idA {
			t.Fatalf("Beijing lists %v", got)
		}
		if got := ids(u.bj, "?province=12"); len(got) != 0 {
			t.Fatalf("Beijing lists Tianjin's: %v", got)
		}
		if got := ids(u.auditor, "?task=YZYX"); len(got) != 2 {
			t.Fatalf("auditor lists %v", got)
		}
		if got := ids(e.adminToken, ""); len(got) != 3 {
			t.Fatalf("ministry lists %v", got)
		}
	})
	t.Run("EditSubmit", func(t *testing.T) {
		want(t, e.do("POST", "/api/v1/applications/"+idA+"/submit", u.schoolA, ""), http.StatusUnprocessableEntity, "fields.school_name")
		want(t, e.do("PUT", "/api/v1/applications/"+idA, u.schoolA, `{"title":"北京技师学院","fields":`+yzyxFull+`}`), http.StatusOK, "")
		want(t, e.do("POST", "/api/v1/applications/"+idA+"/submit", u.schoolA, ""), http.StatusOK, "")
		res := e.do("PUT", "/api/v1/applications/"+idA, u.schoolA, `{"title":"再改","fields":`+yzyxFull+`}`)
		want(t, res, http.StatusConflict, "status")
		want(t, e.upload("/api/v1/applications/"+idA+"/attachments", u.schoolA, "file", "late.pdf", []byte("%PDF-1.4 late")), http.StatusConflict, "status")
		e.projectSelection()
		got := e.do("GET", "/api/v1/applications/"+idA, u.schoolA, "")
		want(t, got, http.StatusOK, "")
		if got.str("status") != "submitted" || got.json["fields"].(map[string]any)["enrolment"] != float64(5000) ||
			len(got.json["attachments"].([]any)) != 2 {
			t.Fatalf("application %s", got.Body)
		}
	})
}

func TestAttachmentSizeLimit(t *testing.T) {
	t.Parallel()
	d := e2(t)
	u := d.selectionUsers()
	d.openSelectionBatch("b", "2.1", "YZYX")
	res := d.do("POST", "/api/v1/applications", u.schoolA, `{"batch_id":"b","title":"x","province":"11"}`, "Idempotency-Key", "k")
	want(t, res, http.StatusCreated, "")
	path := "/api/v1/applications/" + res.str("application_id") + "/attachments"
	big := append([]byte("%PDF-1.4\n"), make([]byte, 2048)...)
	want(t, d.upload(path, u.schoolA, "file", "big.pdf", big), http.StatusRequestEntityTooLarge, "file")
	// Far over the limit, the envelope itself is refused.
	huge := append([]byte("%PDF-1.4\n"), make([]byte, 200<<10)...)
	want(t, d.upload(path, u.schoolA, "file", "huge.pdf", huge), http.StatusRequestEntityTooLarge, "file")
	want(t, d.upload(path, u.schoolA, "file", "ok.pdf", big[:1024]), http.StatusCreated, "")
}

// e2 is an env whose server stores files of at most 1 KiB.
func e2(t *testing.T) *env {
	e := newEnv(t)
	e.srv = api.New(api.Config{Pool: e.d.Pool, Store: e.store, MaxAttachmentSize: 1024, Registry: prometheus.NewRegistry(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	return e
}

func TestExpertsAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u := e.selectionUsers()
	body := `{"expert_id":"zhang","name":"张三","expertise":{"YZYX":3,"LMJT":1},"province":"11","employer":"11-001",
		"conflict_schools":["12-001"],"load":8}`
	res := e.do("POST", "/api/v1/experts", e.adminToken, body, "Idempotency-Key", "x-1")
	want(t, res, http.StatusCreated, "")
	want(t, e.do("POST", "/api/v1/experts", e.adminToken, body, "Idempotency-Key", "x-1"), http.StatusOK, "")
	want(t, e.do("POST", "/api/v1/experts", e.adminToken, body, "Idempotency-Key", "x-2"), http.StatusConflict, "expert_id")
	if n := e.countEvents(selection.ExpertStream("zhang")); n != 1 {
		t.Fatalf("%d events", n)
	}
	want(t, e.do("POST", "/api/v1/experts", e.adminToken, `{"expert_id":"li","name":"李四","expertise":{"YZYX":5},"load":3}`), http.StatusUnprocessableEntity, "expertise.YZYX")
	want(t, e.do("POST", "/api/v1/experts", u.bj, body), http.StatusForbidden, "")
	want(t, e.do("POST", "/api/v1/experts", u.auditor, body), http.StatusForbidden, "")
	want(t, e.do("PUT", "/api/v1/experts/zhang", e.adminToken, strings.Replace(body, `"load":8`, `"load":9`, 1)), http.StatusOK, "")
	want(t, e.do("PUT", "/api/v1/experts/nobody", e.adminToken, body), http.StatusNotFound, "")

	e.projectSelection()
	for _, token := range []string{e.adminToken, u.auditor} {
		res := e.do("GET", "/api/v1/experts?task=YZYX", token, "")
		want(t, res, http.StatusOK, "")
		es := res.json["experts"].([]any)
		if len(es) != 1 || es[0].(map[string]any)["load"] != float64(9) {
			t.Fatalf("experts %s", res.Body)
		}
	}
	want(t, e.do("GET", "/api/v1/experts", u.bj, ""), http.StatusForbidden, "")
	want(t, e.do("GET", "/api/v1/experts", u.schoolA, ""), http.StatusForbidden, "")
}
