package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"keytask/api"
	"keytask/domain/selection"
)

// loggedIn is a browser with a session of user.
func (e *env) loggedIn(user, remote string) *browser {
	e.t.Helper()
	const pw = "足够长的测试密码0001"
	if err := api.SetPassword(context.Background(), e.d.Pool, user, pw); err != nil {
		e.t.Fatal(err)
	}
	b := e.browser(remote)
	if rec := b.login(user, pw); rec.Code != http.StatusSeeOther {
		e.t.Fatalf("login %s: %d %s", user, rec.Code, rec.Body.String())
	}
	return b
}

// page GETs path and wants status.
func (b *browser) page(path string, status int) string {
	b.e.t.Helper()
	rec := b.do("GET", path, nil)
	if rec.Code != status {
		b.e.t.Fatalf("GET %s: %d, want %d: %s", path, rec.Code, status, rec.Body.String())
	}
	return rec.Body.String()
}

// rowCount reads a table's row count off the replay page.
func rowCount(t *testing.T, body, table string) int {
	t.Helper()
	m := regexp.MustCompile(`<td>` + table + `</td><td class="num">(\d+)</td>`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no row count of %s on the replay page: %s", table, body)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// The auditor's pages show what the log says: the read models as of an earlier
// instant hold fewer rows than now, the diff lists the rows added in between,
// the history lists every event with who did it and downloads as the API
// exports it, and the explanation keeps the objector's identity to the
// ministry. Provinces and schools are refused.
func TestAuditPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.withPages()
	sb := e.selectionThroughNotice()
	ctx := context.Background()
	if err := e.store.SealCommitted(ctx); err != nil {
		t.Fatal(err)
	}
	head, err := e.store.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	before, beforeAt := head.Position, time.Now()
	time.Sleep(5 * time.Millisecond)
	e.publish(sb)
	e.project()
	if head, err = e.store.Head(ctx); err != nil {
		t.Fatal(err)
	}
	after := head.Position
	project := selection.ProjectID(sb.batch, sb.a)

	au := e.loggedIn("audit", "10.7.0.1")
	if body := au.page("/web/", http.StatusOK); !strings.Contains(body, `href="/web/audit/"`) {
		t.Error("the auditor's home page does not link to the audit pages")
	}
	if body := au.page("/web/audit/", http.StatusOK); !strings.Contains(body, `href="/web/audit/replay"`) || !strings.Contains(body, `href="/web/audit/diff"`) {
		t.Errorf("the audit index lacks its links: %s", body)
	}

	// Replay: the form alone, then as of the earlier position and as of now.
	if body := au.page("/web/audit/replay", http.StatusOK); !strings.Contains(body, `<label for="position">`) || !strings.Contains(body, `<label for="at">`) {
		t.Errorf("the replay form lacks labelled controls: %s", body)
	}
	then := au.page(fmt.Sprintf("/web/audit/replay?position=%d", before), http.StatusOK)
	now := au.page(fmt.Sprintf("/web/audit/replay?position=%d", after), http.StatusOK)
	if b, a := rowCount(t, then, "projects"), rowCount(t, now, "projects"); b != 0 || a != 1 {
		t.Errorf("projects as of %d: %d rows, as of %d: %d rows; want 0 and 1", before, b, after, a)
	}
	if !strings.Contains(then, fmt.Sprintf("日志位置 %d", before)) {
		t.Errorf("the replay page does not say which position it shows")
	}
	// The same instant named by a time in Beijing.
	at := beforeAt.In(time.FixedZone("CST", 8*3600)).Format("2006-01-02T15:04:05")
	byTime := au.page("/web/audit/replay?at="+url.QueryEscape(at), http.StatusOK)
	if !strings.Contains(byTime, "北京时间 "+strings.Replace(at, "T", " ", 1)) || rowCount(t, byTime, "projects") != 0 {
		t.Errorf("replay as of %s (Beijing) is not the earlier instant: %s", at, byTime)
	}
	// Browsing a table's rows as they stood.
	rows := au.page(fmt.Sprintf("/web/audit/replay?position=%d&table=projects", after), http.StatusOK)
	if !strings.Contains(rows, "表 projects：共 1 行") || !strings.Contains(rows, "<td>"+project+"</td>") {
		t.Errorf("the projects table as of now does not show %s: %s", project, rows)
	}
	// Bad instants are refused beside the control, and nothing else shows.
	for path, control := range map[string]string{
		"/web/audit/replay?position=abc":                                     "position-err",
		"/web/audit/replay?position=1&at=2022-06-15T10:00":                   "at-err",
		"/web/audit/replay?at=yesterday":                                     "at-err",
		fmt.Sprintf("/web/audit/replay?position=%d", after+100):              "position-err",
		fmt.Sprintf("/web/audit/replay?position=%d&table=x", after):          "table-err",
		"/web/audit/diff?from_position=1":                                    "to_position-err",
		fmt.Sprintf("/web/audit/diff?from_position=%d&to_position=1", after): "to_position-err",
	} {
		body := au.page(path, http.StatusBadRequest)
		if !strings.Contains(body, `id="`+control+`"`) || !hasHan(body) {
			t.Errorf("%s: no message beside %s: %s", path, control, body)
		}
	}

	if body := au.page(fmt.Sprintf("/web/audit/replay?position=%d", after+100), http.StatusBadRequest); !strings.Contains(body, "日志位置超出已封存日志的范围") {
		t.Errorf("a position past the log is not refused in the page's words: %s", body)
	}

	if body := au.page(fmt.Sprintf("/web/audit/diff?from_position=%d&to_position=1", after), http.StatusBadRequest); !strings.Contains(body, "终点日志位置应不早于起点日志位置") {
		t.Errorf("a diff backwards is not refused in the page's words: %s", body)
	}

	// Diff: the project's row is added between the two instants.
	diff := au.page(fmt.Sprintf("/web/audit/diff?from_position=%d&to_position=%d", before, after), http.StatusOK)
	if !strings.Contains(diff, "projects：新增 1 行，删除 0 行") || !strings.Contains(diff, project) {
		t.Errorf("the diff does not list the added project: %s", diff)
	}
	if same := au.page(fmt.Sprintf("/web/audit/diff?from_position=%d&to_position=%d", after, after), http.StatusOK); !strings.Contains(same, "读模型没有变化") {
		t.Errorf("a diff of an instant with itself shows changes: %s", same)
	}

	// History of application A: every event in log order, with who and where.
	hist := au.page("/web/audit/history?kind=application&id="+url.QueryEscape(sb.a), http.StatusOK)
	for _, want := range []string{selection.TypeObjectionFiled, selection.TypeSelectionBatchPublished, "selection-batch-" + sb.batch,
		"corr-1", "MOHRSS", "?format=jsonl", "?format=xlsx", "/web/applications/" + sb.a + "/explanation"} {
		if !strings.Contains(hist, want) {
			t.Errorf("the history page lacks %q", want)
		}
	}
	if strings.Index(hist, selection.TypeObjectionFiled) > strings.Index(hist, selection.TypeSelectionBatchPublished) {
		t.Error("the history is not in log order")
	}
	if strings.Contains(hist, objectorName) || strings.Contains(hist, objectorContact) {
		t.Error("the auditor's history page shows the objector")
	}
	// The download links work with the session and export the same events.
	dl := au.do("GET", "/api/v1/audit/history/application/"+url.PathEscape(sb.a)+"?format=jsonl", nil)
	if dl.Code != http.StatusOK || !strings.HasPrefix(dl.Header().Get("Content-Type"), "application/x-ndjson") {
		t.Fatalf("JSON Lines download: %d %s", dl.Code, dl.Header().Get("Content-Type"))
	}
	lines := strings.Count(strings.TrimSpace(dl.Body.String()), "\n") + 1
	if shown := strings.Count(hist, "<details>"); shown != lines {
		t.Errorf("the page shows %d events, the download has %d", shown, lines)
	}
	if x := au.do("GET", "/api/v1/audit/history/application/"+url.PathEscape(sb.a)+"?format=xlsx", nil); x.Code != http.StatusOK || x.Body.Len() == 0 {
		t.Errorf(".xlsx download: %d", x.Code)
	}
	au.page("/web/audit/history?kind=school&id=x", http.StatusBadRequest)
	if body := au.page("/web/audit/history?kind=batch&id=", http.StatusBadRequest); !strings.Contains(body, `id="id-err"`) {
		t.Errorf("a missing id is not refused beside its control: %s", body)
	}

	// Explanations: the auditor sees why, without who objected.
	xa := au.page("/web/applications/"+sb.a+"/explanation", http.StatusOK)
	for _, want := range []string{"已列入公布名单，第 1 位", "异议不成立", "经核实，人数属实", "（已隐去）", "专长匹配（3级）", "<td>50、30</td>"} {
		if !strings.Contains(xa, want) {
			t.Errorf("A's explanation lacks %q: %s", want, xa)
		}
	}
	if strings.Contains(xa, objectorName) || strings.Contains(xa, objectorContact) {
		t.Error("the auditor's explanation shows the objector")
	}
	if xb := au.page("/web/applications/"+sb.b+"/explanation", http.StatusOK); !strings.Contains(xb, "未列入公布名单") || !strings.Contains(xb, "规则4") {
		t.Errorf("B's explanation does not say the tie-break: %s", xb)
	}
	admin := e.loggedIn("admin", "10.7.0.2")
	if xm := admin.page("/web/applications/"+sb.a+"/explanation", http.StatusOK); !strings.Contains(xm, objectorName) || !strings.Contains(xm, objectorContact) {
		t.Errorf("the ministry's explanation hides the objector: %s", xm)
	}

	// Refusals: a province and a school reach none of the audit pages, and
	// the other province's school not even the explanation.
	for _, who := range []struct{ user, remote string }{{"bj", "10.7.0.3"}, {"sa", "10.7.0.4"}} {
		b := e.loggedIn(who.user, who.remote)
		for _, path := range []string{"/web/audit/", fmt.Sprintf("/web/audit/replay?position=%d", after),
			fmt.Sprintf("/web/audit/diff?from_position=%d&to_position=%d", before, after), "/web/audit/history?kind=application&id=" + sb.a} {
			rec := b.do("GET", path, nil)
			if rec.Code != http.StatusForbidden && rec.Code != http.StatusNotFound {
				t.Errorf("%s GET %s: %d, want 403 or 404", who.user, path, rec.Code)
			}
			if strings.Contains(rec.Body.String(), project) || strings.Contains(rec.Body.String(), selection.TypeObjectionFiled) {
				t.Errorf("%s GET %s shows audit content", who.user, path)
			}
		}
	}
	sbB := e.loggedIn("sb", "10.7.0.5")
	if rec := sbB.do("GET", "/web/applications/"+sb.a+"/explanation", nil); rec.Code != http.StatusNotFound {
		t.Errorf("another province's school reads A's explanation: %d", rec.Code)
	}
	// Without a session the pages send to the login page.
	if rec := e.browser("10.7.0.6").do("GET", "/web/audit/replay", nil); rec.Code != http.StatusSeeOther ||
		!strings.HasPrefix(rec.Header().Get("Location"), "/login") {
		t.Errorf("anonymous replay page: %d %s", rec.Code, rec.Header().Get("Location"))
	}
}
