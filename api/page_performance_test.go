package api_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"keytask/api"
	"keytask/domain/performance"
	"keytask/events"
	"keytask/workflows"
)

// The ministry extends a year's collection from the year's page, through the
// real workflow: only the ministry is offered the form and may post it; a bad
// or refused deadline shows the page again with the message beside the field
// and records nothing; a later one moves the deadline the page shows.
func TestPerformancePageExtend(t *testing.T) {
	t.Parallel()
	e, c := newTemporalEnv(t)
	e.withPages()
	e.users()
	e.register(`{"user_id":"sa","name":"北京技师学院","role":"school","organisation":"11-001"}`)
	e.project()
	ctx := context.Background()
	const password = "足够长的测试密码0001"
	for _, u := range []string{"admin", "bj", "sa", "audit"} {
		if err := api.SetPassword(ctx, e.d.Pool, u, password); err != nil {
			t.Fatal(err)
		}
	}
	shanghai := time.FixedZone("CST", 8*3600)
	year, deadline, collection := openThisYearsCollection(t, e, c)
	page := "/web/performance/" + strconv.Itoa(year)
	action := page + "/extend"
	local := func(t time.Time) string { return t.In(shanghai).Format("2006-01-02 15:04") }
	// What a datetime-local input sends.
	typed := func(t time.Time) string { return t.In(shanghai).Format("2006-01-02T15:04") }
	extensions := func() int {
		t.Helper()
		evs, err := e.store.ReadStream(ctx, performance.CollectionStream(year), events.ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, ev := range evs {
			if ev.Type == performance.TypeCollectionDeadlineExtended {
				n++
			}
		}
		return n
	}
	login := func(user, remote string) *browser {
		t.Helper()
		b := e.browser(remote)
		if rec := b.login(user, password); rec.Code != http.StatusSeeOther {
			t.Fatalf("login %s: %d %s", user, rec.Code, rec.Body.String())
		}
		return b
	}

	admin := login("admin", "10.8.0.1")
	t.Run("MinistrySeesTheForm", func(t *testing.T) {
		rec := admin.do("GET", page, nil)
		body := rec.Body.String()
		if rec.Code != http.StatusOK || !strings.Contains(body, `action="`+action+`"`) || !strings.Contains(body, "<legend>延长截止时间</legend>") {
			t.Fatalf("ministry's page: %d %s", rec.Code, body)
		}
		for _, want := range []string{`<label for="deadline">`, `type="datetime-local" id="deadline" name="deadline" value="` + typed(deadline) + `"`,
			`<label for="reason">`, `<textarea id="reason" name="reason"`, `id="collection-deadline">` + local(deadline) + "<", `name="csrf_token"`} {
			if !strings.Contains(body, want) {
				t.Errorf("ministry's page lacks %s", want)
			}
		}
	})

	t.Run("OthersNeitherSeeNorPost", func(t *testing.T) {
		for i, user := range []string{"sa", "bj", "audit"} {
			b := login(user, "10.8.1."+strconv.Itoa(i+1))
			rec := b.do("GET", page, nil)
			if rec.Code != http.StatusOK || strings.Contains(rec.Body.String(), action) || strings.Contains(rec.Body.String(), "延长截止时间") {
				t.Errorf("%s's page: %d, offers the extension: %v", user, rec.Code, strings.Contains(rec.Body.String(), action))
			}
			token := b.csrf("/web/")
			rec = b.do("POST", action, url.Values{"csrf_token": {token}, "deadline": {typed(deadline.Add(24 * time.Hour))}})
			if rec.Code != http.StatusForbidden {
				t.Errorf("%s posted an extension: %d %s", user, rec.Code, rec.Body.String())
			}
		}
		if n := extensions(); n != 0 {
			t.Fatalf("%d extensions recorded after refused posts", n)
		}
	})

	t.Run("RefusalsShowBesideTheField", func(t *testing.T) {
		token := admin.csrf(page)
		for _, c := range []struct{ deadline, want string }{
			{"明天", "时间格式不正确"},
			{"", "请填写截止时间"},
			{typed(deadline.Add(-2 * time.Minute)), "新的截止时间须晚于现截止时间（" + local(deadline)},
			{strconv.Itoa(year+2) + "-01-01T00:00", "新的截止时间不能晚于"},
		} {
			rec := admin.do("POST", action, url.Values{"csrf_token": {token}, "deadline": {c.deadline}, "reason": {"部分学校数据核对中"}})
			body := rec.Body.String()
			if rec.Code != http.StatusUnprocessableEntity {
				t.Fatalf("deadline %q: %d %s", c.deadline, rec.Code, body)
			}
			i := strings.Index(body, `<span class="err" id="deadline-err" role="alert">`)
			if i < 0 || !strings.Contains(body[i:], c.want) || !strings.Contains(body, `aria-describedby="deadline-err"`) {
				t.Fatalf("deadline %q: no message %q beside the field: %s", c.deadline, c.want, body)
			}
			// What was typed is shown again.
			if !strings.Contains(body, `value="`+c.deadline+`"`) || !strings.Contains(body, ">部分学校数据核对中</textarea>") {
				t.Fatalf("deadline %q: the form lost what was typed: %s", c.deadline, body)
			}
		}
		// Without the session's token nothing is sent.
		if rec := admin.do("POST", action, url.Values{"deadline": {typed(deadline.Add(24 * time.Hour))}}); rec.Code != http.StatusForbidden {
			t.Fatalf("extension without the CSRF token: %d", rec.Code)
		}
		if n := extensions(); n != 0 {
			t.Fatalf("%d extensions recorded after refusals", n)
		}
		if c := collection(); !c.Deadline.Equal(deadline) {
			t.Fatalf("deadline %s after refusals, want %s", c.Deadline, deadline)
		}
	})

	t.Run("ExtensionMovesTheDeadline", func(t *testing.T) {
		to := deadline.Add(2 * 24 * time.Hour).Truncate(time.Minute)
		token := admin.csrf(page)
		rec := admin.do("POST", action, url.Values{"csrf_token": {token}, "deadline": {typed(to)}, "reason": {"部分学校数据核对中"}})
		if rec.Code != http.StatusSeeOther {
			t.Fatalf("extension: %d %s", rec.Code, rec.Body.String())
		}
		loc, err := url.Parse(rec.Header().Get("Location"))
		if err != nil || loc.Path != page || loc.Query().Get("ok") != "截止时间已延长至 "+local(to)+"（北京时间）" {
			t.Fatalf("redirected to %s", rec.Header().Get("Location"))
		}
		if n := extensions(); n != 1 {
			t.Fatalf("%d extensions recorded, want 1", n)
		}
		v, err := c.QueryWorkflow(ctx, workflows.PerformanceCollectionWorkflowID(year), "", workflows.QueryPerformanceCollection)
		if err != nil {
			t.Fatal(err)
		}
		var st workflows.PerformanceCollectionStatus
		if err := v.Get(&st); err != nil || !st.Deadline.Equal(to) {
			t.Fatalf("workflow deadline %s, %v; want %s", st.Deadline, err, to)
		}
		if c := collection(); !c.Deadline.Equal(to) {
			t.Fatalf("read model deadline %s, want %s", c.Deadline, to)
		}
		body := admin.do("GET", loc.RequestURI(), nil).Body.String()
		if !strings.Contains(body, `id="collection-deadline">`+local(to)+"<") || !strings.Contains(body, "截止时间已延长至 "+local(to)) {
			t.Fatalf("the page after the extension: %s", body)
		}
		// The old deadline is no longer later than the current one.
		rec = admin.do("POST", action, url.Values{"csrf_token": {token}, "deadline": {typed(deadline.Add(time.Hour))}})
		if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), "新的截止时间须晚于现截止时间（"+local(to)) {
			t.Fatalf("an earlier extension after the first: %d %s", rec.Code, rec.Body.String())
		}
		if n := extensions(); n != 1 {
			t.Fatalf("%d extensions recorded, want 1", n)
		}
	})
}
