package api_test

import (
	"bytes"
	"context"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"keytask/api"
	"keytask/app"
	"keytask/domain/selection"
	"keytask/events"
)

var uploadKey = regexp.MustCompile(`name="key" value="([^"]+)"`)

// postUpload sends the application page's upload form as a browser does.
func (b *browser) postUpload(path string, fields map[string]string, name string, content []byte) *httptest.ResponseRecorder {
	b.e.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, v := range fields {
		_ = mw.WriteField(k, v)
	}
	fw, _ := mw.CreateFormFile("file", name)
	_, _ = fw.Write(content)
	_ = mw.Close()
	req := httptest.NewRequest("POST", path, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.RemoteAddr = b.remote + ":40000"
	for _, c := range b.cookies {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	b.e.srv.Handler().ServeHTTP(rec, req)
	return rec
}

// TestPageUploadHonoursKey: the page's upload goes through the same command
// as the API's, under the idempotency key its form carries, so a form sent
// again after going back with another file is refused instead of attaching it.
func TestPageUploadHonoursKey(t *testing.T) {
	e := newEnv(t)
	e.withPages()
	u := e.selectionUsers()
	e.openSelectionBatch("2022-yzyx", "2.1", "YZYX")
	res := e.do("POST", "/api/v1/applications", u.schoolA, `{"batch_id":"2022-yzyx","title":"北京技师学院申报","province":"11"}`,
		"Idempotency-Key", "page-upload")
	want(t, res, http.StatusCreated, "")
	id := res.str("application_id")
	stream := selection.ApplicationStream(id)
	e.projectSelection()
	if err := api.SetPassword(context.Background(), e.d.Pool, "sa", "学校的正确密码123"); err != nil {
		t.Fatal(err)
	}
	b := e.browser("10.0.0.7")
	if rec := b.login("sa", "学校的正确密码123"); rec.Code != http.StatusSeeOther {
		t.Fatalf("login: %d", rec.Code)
	}
	path := "/web/applications/" + id
	page := b.do("GET", path, nil).Body.String()
	m := uploadKey.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("the upload form carries no idempotency key: %s", page)
	}
	form := map[string]string{"csrf_token": csrfInput.FindStringSubmatch(page)[1], "key": m[1]}

	rec := b.postUpload(path+"/attachments", form, "申报书.pdf", []byte("%PDF-1.4\nfirst\n%%EOF\n"))
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("upload: %d %s", rec.Code, rec.Body.String())
	}
	evs, err := e.store.ReadStream(context.Background(), stream, events.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	meta := events.Metadata{ActorID: "sa"}
	if last := evs[len(evs)-1]; last.Type != selection.TypeApplicationAttachmentAdded ||
		last.ID != app.EventID(meta, m[1], selection.TypeApplicationAttachmentAdded) {
		t.Fatalf("last event %s %s, want the attachment under the form's key", last.Type, last.ID)
	}
	before := len(evs)
	rec = b.postUpload(path+"/attachments", form, "另一个文件.pdf", []byte("%PDF-1.4\nsecond\n%%EOF\n"))
	if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), "此上传表单已提交过另一个文件") {
		t.Fatalf("the same form with another file: %d %s", rec.Code, rec.Body.String())
	}
	if n := e.countEvents(stream); n != before {
		t.Fatalf("%d events after the spent form, want %d", n, before)
	}
}
