package web_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"keytask/events"
)

const auditJourneyPassword = "审计署审计员密码01"

// cellAfter reads, from the page's tables, the cell right after the cell that
// says label: a read-model table's row count on the replay page.
func (b *browser) cellAfter(label string) string {
	b.t.Helper()
	return b.eval(fmt.Sprintf(`(() => { for (const r of document.querySelectorAll("tr")) {
		const cells = Array.from(r.cells).map(c => c.innerText.trim()); const i = cells.indexOf(%q);
		if (i >= 0 && i+1 < cells.length) return cells[i+1]; } return ""; })()`, label))
}

// fetchLink downloads the target of the link sel with the page's session, as
// clicking it would, and answers "status|content type|non-empty lines".
func (b *browser) fetchLink(sel string) string {
	b.t.Helper()
	return b.eval(fmt.Sprintf(`(() => { const a = document.querySelector(%q); if (!a) return "no link";
		const x = new XMLHttpRequest(); x.open("GET", a.href, false); x.send();
		return x.status + "|" + x.getResponseHeader("Content-Type") + "|" + x.responseText.split("\n").filter(Boolean).length; })()`, sel))
}

// An auditor, by keyboard, replays the read models as of the instant before a
// province registered its liaison and as of now, browses the table, diffs the
// two instants and reads and downloads the province's event history.
func TestAuditBrowserJourney(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Chromium against a whole platform")
	}
	chromiumPath(t)
	requireChineseFont(t)
	p := startPlatform(t)
	bjToken := p.user("bj", "北京市人力资源和社会保障局", "province", "11", bjPassword)
	p.user("audit", "审计署审计员", "auditor", "审计署", auditJourneyPassword)
	ctx := context.Background()
	store := events.NewStore(p.d.Pool)
	head := func() int64 {
		t.Helper()
		if err := store.SealCommitted(ctx); err != nil {
			t.Fatal(err)
		}
		h, err := store.Head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return h.Position
	}
	before := head()
	p.must("PUT", "/api/v1/provinces/11/liaison", bjToken, `{"name":"晋晓磊","phone":"010-84208450","email":"jin@bj.gov.cn"}`)
	p.eventually("the liaison is projected", func() bool {
		var out any
		return p.call("GET", "/api/v1/liaisons", p.adminToken, "", &out) == 200 && strings.Contains(fmt.Sprint(out), "晋晓磊")
	})
	after := head()

	b := newBrowser(t, p.url)
	b.login("audit", auditJourneyPassword)
	b.open("/web/audit/")
	b.submit(`a[href="/web/audit/replay"]`)

	// Replay as of the earlier position: typed, and Enter sends the form.
	b.eval(`window.__before = 1; ""`)
	b.do(chromedp.SendKeys(chromedp.ID("position"), fmt.Sprintf("%d\r", before)))
	b.awaitNewPage("the replay form")
	if got := b.cellAfter("liaisons"); got != "0" {
		t.Fatalf("liaisons as of position %d: %q rows, want 0", before, got)
	}
	b.screenshot("replay-before")
	b.typeInto("#position", fmt.Sprint(after))
	b.submit(`form[action="/web/audit/replay"] button[type=submit]`)
	if got := b.cellAfter("liaisons"); got != "1" {
		t.Fatalf("liaisons as of position %d: %q rows, want 1", after, got)
	}
	b.submit(`a[href$="table=liaisons"]`)
	if main := b.text("main"); !strings.Contains(main, "表 liaisons：共 1 行") || !strings.Contains(main, "晋晓磊") {
		t.Fatalf("the liaisons table as of now: %s", main)
	}
	b.screenshot("replay-table")

	// Diff of the two instants.
	b.open("/web/audit/diff")
	b.typeInto("#from_position", fmt.Sprint(before))
	b.eval(`window.__before = 1; ""`)
	b.do(chromedp.SendKeys(chromedp.ID("to_position"), fmt.Sprintf("%d\r", after)))
	b.awaitNewPage("the diff form")
	if main := b.text("main"); !strings.Contains(main, "liaisons：新增 1 行，删除 0 行") || !strings.Contains(main, "晋晓磊") {
		t.Fatalf("the diff does not show the liaison added: %s", main)
	}
	b.screenshot("diff")

	// Province 11's history, and its downloads.
	b.open("/web/audit/history")
	b.choose("#kind", "province")
	b.eval(`window.__before = 1; ""`)
	b.do(chromedp.SendKeys(chromedp.ID("id"), "11\r"))
	b.awaitNewPage("the history form")
	if main := b.text("main"); !strings.Contains(main, "liaison-11") || !strings.Contains(main, "bj") {
		t.Fatalf("province 11's history lacks the liaison's event: %s", main)
	}
	shown := b.eval(`String(document.querySelectorAll("main tbody tr").length)`)
	if got := b.fetchLink(`a[href$="format=jsonl"]`); got != "200|application/x-ndjson; charset=utf-8|"+shown {
		t.Errorf("JSON Lines download: %s, want 200 with %s lines", got, shown)
	}
	if got := b.fetchLink(`a[href$="format=xlsx"]`); !strings.HasPrefix(got, "200|application/vnd.openxmlformats-officedocument.spreadsheetml.sheet") {
		t.Errorf(".xlsx download: %s", got)
	}
	b.screenshot("history")
}
