package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"keytask/domain/identity"
	"keytask/domain/intent"
	"keytask/projections"
)

// postLetter sends a 厅函 as a province's browser or client would: its number,
// its date and the stamped scan, multipart.
func (e *env) postLetter(path, token, no, date, name string, scan []byte) response {
	e.t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	_ = mw.WriteField("letter_no", no)
	_ = mw.WriteField("date", date)
	if scan != nil {
		fw, err := mw.CreateFormFile("file", name)
		if err != nil {
			e.t.Fatal(err)
		}
		_, _ = fw.Write(scan)
	}
	_ = mw.Close()
	return e.doRaw("POST", path, token, &b, mw.FormDataContentType())
}

func (e *env) doRaw(method, path, token string, body *bytes.Buffer, contentType string) response {
	e.t.Helper()
	req := httptest.NewRequest(method, path, body)
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(rec, req)
	res := response{ResponseRecorder: rec}
	if strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		_ = json.Unmarshal(rec.Body.Bytes(), &res.json)
	}
	return res
}

func (e *env) countAttachments() int {
	e.t.Helper()
	var n int
	if err := e.d.Pool.QueryRow(context.Background(), `SELECT count(*) FROM attachments`).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// The 厅函 and the 实施单位 through the API and the real workflow: bad input
// is refused naming its field and records and stores nothing; the province
// records its letter, the ministry reads it beside the form with its scan and
// marks it arrived; a school outside the register is refused; and once every
// province has submitted the ministry files the round before its deadline.
func TestIntentLetterUnitsAndEarlyFilingWithTemporal(t *testing.T) {
	t.Parallel()
	e, _ := newTemporalEnv(t)
	bj, tj, auditor := e.users()
	want(t, e.do("POST", "/api/v1/plan-batches", e.adminToken, jsonBody(t, map[string]any{"batch_id": "2022-1", "name": "第一批", "items_csv": batch1CSV})),
		http.StatusCreated, "")
	e.projectAll()
	open := jsonBody(t, map[string]any{"round_id": "r2", "batch_id": "2022-1", "deadline": time.Now().Add(24 * time.Hour).Format(time.RFC3339)})
	want(t, e.do("POST", "/api/v1/intent-rounds", e.adminToken, open), http.StatusCreated, "")
	const base = "/api/v1/intent-rounds/r2"
	form := func(p string) string { return base + "/provinces/" + p }
	e.eventually(20*time.Second, "round in the read model", func() bool { return e.do("GET", base, auditor, "").Code == http.StatusOK })

	good := `{"lines":[{"item":"2.1","undertake":true,"quantity":3,"funds":{"school":"10"}},{"item":"4","undertake":true,"quantity":2}]}`
	scan := []byte("%PDF-1.4\n粤人社函 stamped\n%%EOF\n")
	today := time.Now().In(time.FixedZone("CST", 8*3600)).Format("2006-01-02")

	t.Run("UnitsOutsideTheRegister", func(t *testing.T) {
		res := e.do("PUT", form("11")+"/draft", bj, `{"lines":[{"item":"2.1","undertake":true,"quantity":1,"units":["BJ001"]}]}`)
		want(t, res, http.StatusUnprocessableEntity, "lines[0].units[0]")
		if !strings.Contains(res.str("error"), "不在学校名录中") {
			t.Fatalf("refusal %s", res.Body)
		}
		want(t, e.do("PUT", form("11")+"/draft", bj, `{"lines":[{"item":"2.1","undertake":true,"quantity":1,"units":"BJ001"}]}`),
			http.StatusUnprocessableEntity, "lines[0].units")
		want(t, e.do("POST", "/api/v1/schools", e.adminToken, `{"code":"SCH-12-001","name":"天津市职业技能公共实训中心技师学院","province":"12","kind":"技师学院"}`),
			http.StatusCreated, "")
		res = e.do("PUT", form("11")+"/draft", bj, `{"lines":[{"item":"2.1","undertake":true,"quantity":1,"units":["SCH-12-001"]}]}`)
		want(t, res, http.StatusUnprocessableEntity, "lines[0].units[0]")
		if !strings.Contains(res.str("error"), "属于天津市，只能选择北京市的学校") {
			t.Fatalf("refusal %s", res.Body)
		}
		if n := e.countEvents(intent.FormStream("r2", "11")); n != 0 {
			t.Fatalf("%d form events after refusals", n)
		}
	})
	t.Run("UnitsFromTheRegister", func(t *testing.T) {
		want(t, e.do("POST", "/api/v1/schools", e.adminToken, `{"code":"SCH-11-001","name":"北京市工贸技师学院","province":"11","kind":"技师学院"}`),
			http.StatusCreated, "")
		// Read from the log at once: no read model of the register is waited for.
		res := e.do("PUT", form("11")+"/draft", bj, `{"lines":[{"item":"2.1","undertake":true,"quantity":1,"units":["SCH-11-001"]}]}`)
		want(t, res, http.StatusOK, "")
		e.eventually(20*time.Second, "units in the read model", func() bool {
			lines, _ := e.do("GET", form("11")+"/form", e.adminToken, "").json["lines"].([]any)
			for _, l := range lines {
				if l := l.(map[string]any); l["item"] == "2.1" {
					us, _ := l["units"].([]any)
					return len(us) == 1 && us[0].(map[string]any)["name"] == "北京市工贸技师学院"
				}
			}
			return false
		})
	})
	t.Run("LetterRefusalsRecordNothing", func(t *testing.T) {
		want(t, e.postLetter(form("11")+"/letter", bj, "京人社函〔2022〕1号", today, "letter.pdf", scan), http.StatusConflict, "")
		good := strings.Replace(good, `"quantity":3,`, `"quantity":3,"units":["SCH-11-001"],`, 1)
		want(t, e.do("POST", form("11")+"/submit", bj, good), http.StatusOK, "")
		e.eventually(20*time.Second, "the filed units", func() bool {
			us, err := projections.SubmittedUnits(context.Background(), e.d.Pool, "r2", "11", "2.1")
			return err == nil && len(us) == 1 && us[0].SchoolName == "北京市工贸技师学院"
		})
		want(t, e.postLetter(form("11")+"/letter", bj, " ", today, "letter.pdf", scan), http.StatusUnprocessableEntity, "letter_no")
		want(t, e.postLetter(form("11")+"/letter", bj, "京人社函〔2022〕1号", "2022/06/10", "letter.pdf", scan), http.StatusUnprocessableEntity, "date")
		want(t, e.postLetter(form("11")+"/letter", bj, "京人社函〔2022〕1号", "2999-01-01", "letter.pdf", scan), http.StatusUnprocessableEntity, "date")
		want(t, e.postLetter(form("11")+"/letter", bj, "京人社函〔2022〕1号", today, "", nil), http.StatusUnprocessableEntity, "file")
		want(t, e.postLetter(form("11")+"/letter", bj, "京人社函〔2022〕1号", today, "letter.txt", []byte("plain text")), http.StatusUnprocessableEntity, "file")
		want(t, e.do("POST", form("11")+"/letter", bj, `{"letter_no":"x"}`, "Content-Type", "application/json"), http.StatusBadRequest, "file")
		want(t, e.postLetter(form("11")+"/letter", tj, "京人社函〔2022〕1号", today, "letter.pdf", scan), http.StatusNotFound, "")
		want(t, e.postLetter(form("11")+"/letter", auditor, "京人社函〔2022〕1号", today, "letter.pdf", scan), http.StatusForbidden, "")
		if n, a := e.countEvents(intent.FormStream("r2", "11")), e.countAttachments(); n != 2 || a != 0 {
			t.Fatalf("%d form events (want the draft and the submission only), %d attachments stored after refusals", n, a)
		}
	})
	t.Run("LetterRecordedAndArrived", func(t *testing.T) {
		res := e.postLetter(form("11")+"/letter", bj, " 京人社函〔2022〕1号 ", today, "厅函.pdf", scan)
		want(t, res, http.StatusCreated, "")
		if res.json["letter_no"] != "京人社函〔2022〕1号" || res.json["media_type"] != "application/pdf" {
			t.Fatalf("letter %s", res.Body)
		}
		want(t, e.do("POST", form("11")+"/letter/arrived", bj, ""), http.StatusForbidden, "")
		want(t, e.do("POST", form("12")+"/letter/arrived", e.adminToken, ""), http.StatusConflict, "")
		e.eventually(20*time.Second, "letter in the read model", func() bool {
			return e.do("GET", form("11")+"/form", e.adminToken, "").json["letter"] != nil
		})
		l := e.do("GET", form("11")+"/form", e.adminToken, "").json["letter"].(map[string]any)
		if l["letter_no"] != "京人社函〔2022〕1号" || l["date"] != today || l["file_name"] != "厅函.pdf" || l["arrived"] != false {
			t.Fatalf("letter beside the form: %v", l)
		}
		got := e.do("GET", l["scan_url"].(string), e.adminToken, "")
		if got.Code != http.StatusOK || !bytes.Equal(got.Body.Bytes(), scan) {
			t.Fatalf("scan: %d %q", got.Code, got.Body.String())
		}
		want(t, e.do("GET", form("11")+"/letter/scan", tj, ""), http.StatusNotFound, "")
		want(t, e.do("POST", form("11")+"/letter/arrived", e.adminToken, ""), http.StatusOK, "")
		want(t, e.do("POST", form("11")+"/letter/arrived", e.adminToken, ""), http.StatusConflict, "")
		want(t, e.postLetter(form("11")+"/letter", bj, "京人社函〔2022〕2号", today, "厅函.pdf", scan), http.StatusConflict, "")
		e.eventually(20*time.Second, "arrival in the read model", func() bool {
			ps, _ := e.do("GET", base, e.adminToken, "").json["provinces"].([]any)
			for _, p := range ps {
				if p := p.(map[string]any); p["code"] == "11" {
					l, _ := p["letter"].(map[string]any)
					return l != nil && l["arrived"] == true
				}
			}
			return false
		})
		print := e.do("GET", form("11")+"/form/print", e.adminToken, "")
		for _, s := range []string{"京人社函〔2022〕1号", "部已于", "实施单位：北京市工贸技师学院", `<td class="num">2</td>`, "3所"} {
			if !strings.Contains(print.Body.String(), s) {
				t.Errorf("the printed form lacks %q", s)
			}
		}
	})
	t.Run("FiledBeforeTheDeadline", func(t *testing.T) {
		want(t, e.do("POST", base+"/file", e.adminToken, ""), http.StatusConflict, "")
		tokens := map[string]string{"12": tj}
		for _, p := range slices.Sorted(maps.Keys(identity.Provinces)) {
			if p == "11" || p == "12" {
				continue
			}
			tokens[p] = e.register(fmt.Sprintf(`{"user_id":"p%s","name":"%s人社厅","role":"province","organisation":"%s"}`, p, identity.Provinces[p], p))
		}
		e.project()
		for p, tok := range tokens {
			want(t, e.do("POST", form(p)+"/submit", tok, good), http.StatusOK, "")
		}
		want(t, e.do("POST", base+"/file", e.adminToken, ""), http.StatusOK, "")
		e.eventually(20*time.Second, "filed in the read model", func() bool {
			r := e.do("GET", base, auditor, "")
			return r.json["stage"] == "filed" && r.json["filed_early"] == true
		})
		want(t, e.do("PUT", form("11")+"/draft", bj, good), http.StatusConflict, "")
		s := e.do("GET", base+"/summary", auditor, "")
		if s.json["submitted_count"] != float64(len(identity.Provinces)) {
			t.Fatalf("summary %s", s.Body)
		}
	})
}
