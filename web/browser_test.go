package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"keytask/activities"
	"keytask/api"
	"keytask/db/pgtest"
	"keytask/domain/identity"
	"keytask/domain/intent"
	"keytask/domain/performance"
	"keytask/domain/selection"
	"keytask/events"
	"keytask/notifications"
	"keytask/projections"
	"keytask/temporalx"
	"keytask/temporalx/devserver"
	"keytask/workflows"
)

// chromiumPath finds Debian's Chromium. Without it the journeys are skipped,
// except where KEYTASK_REQUIRE_TOOLS says they must run (CI installs it).
func chromiumPath(t *testing.T) string {
	for _, p := range []string{os.Getenv("KEYTASK_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("KEYTASK_REQUIRE_TOOLS") != "" {
		t.Fatal("Chromium is required (KEYTASK_REQUIRE_TOOLS is set) but not installed")
	}
	t.Skip("Chromium is not installed")
	return ""
}

// requireChineseFont stops the journeys where no font can draw Chinese: the
// screenshots would show empty boxes where the text is.
func requireChineseFont(t *testing.T) {
	out, err := exec.Command("fc-list", ":lang=zh", "family").Output()
	if err == nil && strings.TrimSpace(string(out)) != "" {
		return
	}
	if os.Getenv("KEYTASK_REQUIRE_TOOLS") != "" {
		t.Fatalf("a Chinese font is required (KEYTASK_REQUIRE_TOOLS is set) but fc-list finds none: %v", err)
	}
	t.Skip("no Chinese font installed (fonts-wqy-microhei)")
}

// artifactsDir is where screenshots go: $KEYTASK_ARTIFACTS, or
// testdata/artifacts beside this file (ignored by git).
func artifactsDir(t *testing.T) string {
	dir := os.Getenv("KEYTASK_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("testdata", "artifacts")
	}
	dir = filepath.Join(dir, t.Name())
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// platform is keytask running as in production, on a fresh database and an
// embedded Temporal server, served over real HTTP.
type platform struct {
	t          *testing.T
	d          *pgtest.DB
	url        string
	adminToken string
	tc         client.Client
	store      *events.Store
	clock      workflows.DilatedClock // the selection batches'
}

// dilation is how much faster than the server's clock the selection batch's
// clock runs in the journeys: five working days of public notice (about a
// week) pass in about a minute, long enough for a person to file an objection
// on the notice page, short enough to wait for its end.
const dilation = 10_000

// reachNotice bounds the wall time from the platform's start to the last
// public notice of the journeys, which must be counted inside the holiday
// calendar.
const reachNotice = 10 * time.Minute

func startPlatform(t *testing.T) *platform {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	d := pgtest.New(t)
	store := events.NewStore(d.Pool)
	srv, err := devserver.Start(ctx, devserver.Options{SearchAttributes: workflows.SearchAttributes(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	tc, err := temporalx.Dial(ctx, srv.FrontendAddr(), "default", quiet, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tc.Close)
	// The batch's clock runs in a year the holiday calendar covers whatever
	// today's date (see CoveredDilatedClock); the API reads the batch's
	// present through the same clock.
	clock, err := workflows.CoveredDilatedClock(nil, time.Now(), reachNotice, dilation)
	if err != nil {
		t.Fatal(err)
	}
	w := worker.New(tc, temporalx.TaskQueue, worker.Options{})
	workflows.RegisterWith(w, &activities.Activities{Store: store}, workflows.Options{Clock: clock})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	pr, err := projections.NewProjector(d.Pool, store, nil, quiet, projections.All()...)
	if err != nil {
		t.Fatal(err)
	}
	// The notifier fills the inbox, on its own projector as in production
	// (the mail it queues is never sent here).
	notifier, err := projections.NewProjector(d.Pool, store, nil, quiet, notifications.Notifier{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{}, 2)
	go func() { defer func() { done <- struct{}{} }(); pr.Run(ctx) }()
	go func() { defer func() { done <- struct{}{} }(); notifier.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; <-done })

	s := api.New(api.Config{Pool: d.Pool, Store: store, Temporal: tc, Registry: prometheus.NewRegistry(), Logger: quiet, BatchTime: clock.At})
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(hs.Close)
	token, _, err := api.SeedAdmin(ctx, store, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	p := &platform{t: t, d: d, url: hs.URL, adminToken: token, tc: tc, store: store, clock: clock}
	p.eventually("the admin is projected", func() bool { return p.call("GET", "/api/v1/me", token, "", nil) == http.StatusOK })
	return p
}

// call sends a JSON request with a bearer token and decodes the answer into out.
func (p *platform) call(method, path, token, body string, out any, header ...string) int {
	p.t.Helper()
	req, err := http.NewRequest(method, p.url+path, strings.NewReader(body))
	if err != nil {
		p.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if out != nil {
		_ = json.Unmarshal(b, out)
	}
	return res.StatusCode
}

// must sends a request that has to succeed and returns its JSON answer.
func (p *platform) must(method, path, token, body string, header ...string) map[string]any {
	p.t.Helper()
	var out map[string]any
	if code := p.call(method, path, token, body, &out, header...); code >= 300 {
		p.t.Fatalf("%s %s: %d %v", method, path, code, out)
	}
	return out
}

func (p *platform) upload(path, token, name string, content []byte) {
	p.t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	fw, _ := mw.CreateFormFile("file", name)
	_, _ = fw.Write(content)
	_ = mw.Close()
	req, _ := http.NewRequest("POST", p.url+path, &b)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode >= 300 {
		p.t.Fatalf("upload %s: %d", path, res.StatusCode)
	}
}

// eventually waits for ok, a minute or as long as within says.
func (p *platform) eventually(what string, ok func() bool, within ...time.Duration) {
	p.t.Helper()
	limit := time.Minute
	if len(within) > 0 {
		limit = within[0]
	}
	for deadline := time.Now().Add(limit); !ok(); time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			p.t.Fatalf("%s: not within %s", what, limit)
		}
	}
}

// user registers a user with a password for the login page and returns their
// bearer token for setting things up through the API.
func (p *platform) user(id, name, role, org, password string) string {
	p.t.Helper()
	p.must("POST", "/api/v1/users", p.adminToken,
		fmt.Sprintf(`{"user_id":%q,"name":%q,"role":%q,"organisation":%q}`, id, name, role, org))
	// The API hands the ministry no token of the user's; the test issues one in-process.
	tok, err := api.IssueToken(context.Background(), p.store, events.Metadata{ActorID: "test", Role: "system"}, id,
		identity.TokenRequest{Label: "测试"})
	if err != nil {
		p.t.Fatal(err)
	}
	token := tok.Token
	p.eventually(id+" is projected", func() bool { return p.call("GET", "/api/v1/me", token, "", nil) == http.StatusOK })
	p.must("PUT", "/api/v1/users/"+id+"/password", p.adminToken, fmt.Sprintf(`{"password":%q}`, password))
	return token
}

// browser is one headless Chromium tab on the platform.
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string
	dir  string
	shot int
}

func newBrowser(t *testing.T, base string) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromiumPath(t)), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.WindowSize(1366, 900), chromedp.Flag("lang", "zh-CN"))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil { // starts the browser, on a context without a timeout
		t.Fatal(err)
	}
	return &browser{t: t, ctx: ctx, base: base, dir: artifactsDir(t)}
}

// do runs steps, each journey step bounded so that a page that never comes
// fails the test instead of hanging it.
func (b *browser) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("browser: %v (at %s)", err, b.location())
	}
}

func (b *browser) location() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	u, _ := chromedp.Run(ctx, chromedp.Location())
	return u
}

func (b *browser) eval(js string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	return b.eval(fmt.Sprintf(`(document.querySelector(%q)||{innerText:""}).innerText.trim()`, sel))
}

func (b *browser) open(path string) {
	b.t.Helper()
	b.do(chromedp.Navigate(b.base + path))
	b.checkPage()
}

// submit clicks sel and waits until the browser shows the page the form led to.
func (b *browser) submit(sel string) {
	b.t.Helper()
	b.eval(`window.__before = 1; ""`)
	b.do(chromedp.Click(chromedp.CSS(sel)))
	b.awaitNewPage(sel)
}

// awaitNewPage waits until the page marked before an action has been replaced.
func (b *browser) awaitNewPage(what string) {
	b.t.Helper()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		// The page may be navigating while it is asked: an evaluation cut
		// short by the navigation means "not yet", not a failure.
		ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(window.__before === undefined && document.readyState === "complete") ? "new" : ""`))
		cancel()
		if err == nil && v == "new" {
			break
		}
		if err != nil && !strings.Contains(err.Error(), "navigated or closed") && !strings.Contains(err.Error(), "context was destroyed") {
			b.t.Fatalf("%s: %v", what, err)
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("%s led to no new page (at %s)", what, b.location())
		}
	}
	b.checkPage()
}

// checkPage fails on a page whose Chinese text did not come through: a wrong
// encoding, replacement characters, or a title without Chinese.
func (b *browser) checkPage() {
	b.t.Helper()
	if cs := b.eval(`document.characterSet`); cs != "UTF-8" {
		b.t.Fatalf("%s: character set %s", b.location(), cs)
	}
	body := b.eval(`document.body.innerText`)
	if strings.ContainsRune(body, '\uFFFD') || strings.Contains(body, "Ã") || strings.Contains(body, "ä¸") {
		b.t.Fatalf("%s: mojibake in %q", b.location(), body)
	}
	// Every control has a label, for screen readers and for clicking.
	if unlabelled := b.eval(`Array.from(document.querySelectorAll("input:not([type=hidden]), select, textarea"))
		.filter(e => e.labels.length === 0 && !e.getAttribute("aria-label")).map(e => e.name || e.id || e.outerHTML).join(", ")`); unlabelled != "" {
		b.t.Fatalf("%s: controls without a label: %s", b.location(), unlabelled)
	}
	if h1 := b.text("h1"); h1 == "无法完成操作" {
		b.t.Fatalf("%s: error page: %s", b.location(), b.text(".alert"))
	} else if !strings.ContainsFunc(h1, func(r rune) bool { return unicode.Is(unicode.Han, r) }) {
		b.t.Fatalf("%s: heading %q has no Chinese", b.location(), h1)
	}
}

// ok checks that the last command succeeded: its message shows and no error does.
func (b *browser) ok(want string) {
	b.t.Helper()
	if alert := b.text(".alert"); alert != "" && !strings.Contains(alert, "退回") {
		b.t.Fatalf("%s: error %q", b.location(), alert)
	}
	if got := b.text(".flash"); !strings.Contains(got, want) {
		b.t.Fatalf("%s: message %q, want %q; page: %s", b.location(), got, want, b.text("main"))
	}
}

// screenshot keeps the whole page as NN-name.png.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	b.shot++
	if err := os.WriteFile(filepath.Join(b.dir, fmt.Sprintf("%02d-%s.png", b.shot, name)), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// printPDF prints the page as a browser would on paper, with the print
// stylesheet, and keeps it as NN-name.pdf.
func (b *browser) printPDF(name string) {
	b.t.Helper()
	media := func(m string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: m})
			return err
		})
	}
	// On paper the navigation and the buttons go; the content stays.
	b.do(media("print"))
	hidden := b.eval(`["header", ".actions", ".noprint"].filter(s => document.querySelector(s) &&
		getComputedStyle(document.querySelector(s)).display !== "none").join(",")`)
	b.do(media(""))
	if hidden != "" {
		b.t.Fatalf("%s: printed with %s", b.location(), hidden)
	}
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	pdf, err := chromedp.Run(ctx, chromedp.PrintToPDF(chromedp.PDFPreferCSSPageSize()))
	if err != nil {
		b.t.Fatalf("print %s: %v", name, err)
	}
	if !bytes.HasPrefix(pdf, []byte("%PDF-")) {
		b.t.Fatalf("print %s: not a PDF", name)
	}
	b.shot++
	if err := os.WriteFile(filepath.Join(b.dir, fmt.Sprintf("%02d-%s.pdf", b.shot, name)), pdf, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

func (b *browser) login(user, password string) {
	b.t.Helper()
	b.open("/login")
	// By keyboard alone: the id, Tab to the password, Enter to log in.
	b.eval(`window.__before = 1; ""`)
	b.do(chromedp.SendKeys(chromedp.ID("user_id"), user+"\t"+password+"\r"))
	b.awaitNewPage("the login form")
	if !strings.HasSuffix(b.location(), "/web/") {
		b.t.Fatalf("login as %s ended at %s: %s", user, b.location(), b.text("main"))
	}
}

func (b *browser) logout() {
	b.t.Helper()
	b.submit(`form[action="/logout"] button`)
}

// typeInto replaces an input's value by typing, so the page's scripts see
// the same events as with a person at the keyboard.
func (b *browser) typeInto(sel, value string) {
	b.t.Helper()
	b.setValue(sel, "")
	b.do(chromedp.SendKeys(chromedp.CSS(sel), value))
}

// choose picks an option of a select, as a change by keyboard would.
func (b *browser) choose(sel, value string) {
	b.t.Helper()
	b.setValue(sel, value)
}

func (b *browser) setValue(sel, value string) {
	b.t.Helper()
	got := b.eval(fmt.Sprintf(`(e => { if (!e) return "(none)"; e.focus(); e.value = %q;
		e.dispatchEvent(new Event("input", {bubbles: true})); e.dispatchEvent(new Event("change", {bubbles: true})); return e.value; })(document.querySelector(%q))`, value, sel))
	if got != value {
		b.t.Fatalf("%s: could not set %s to %q (now %q)", b.location(), sel, value, got)
	}
}

const catalogueCSV = `item,code,name,target,unit,kind
1,SZJD,遴选技工教育思想政治理论课师资研修基地,30,个,selection
2.1,YZYX,遴选优质技工院校,300,所,selection
4,JXBZ,开发《技工院校XX专业教学标准》,,,development
`

const (
	bjPassword      = "北京人社局密码2022"
	adminPassword   = "部管理员的密码2022"
	expertPassword  = "专家甲的评审密码01"
	schoolPassword  = "学校申报密码00001"
	auditorPassword = "审计员查阅密码2022"
)

func TestBrowserJourneys(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Chromium against a whole platform")
	}
	chromiumPath(t)
	requireChineseFont(t)
	p := startPlatform(t)
	bjToken := p.user("bj", "北京市人力资源和社会保障局", "province", "11", bjPassword)
	p.user("sa", "北京市工贸技师学院", "school", "11-001", schoolPassword)
	p.user("e1", "王专家", "expert", "上海某大学", expertPassword)
	if err := api.SetPassword(context.Background(), p.d.Pool, "admin", adminPassword); err != nil {
		t.Fatal(err)
	}
	p.must("POST", "/api/v1/plan-batches", p.adminToken, fmt.Sprintf(`{"batch_id":"2022-1","name":"第一批","items_csv":%q}`, catalogueCSV))
	p.eventually("the catalogue is projected", func() bool { return p.call("GET", "/api/v1/plan-batches/2022-1", p.adminToken, "", nil) == 200 })

	b := newBrowser(t, p.url)
	t.Run("IntentSubmitReturnResubmit", func(t *testing.T) { intentJourney(t, p, b) })
	if t.Failed() {
		return
	}
	var application string
	t.Run("BatchThroughNoticeAndObjection", func(t *testing.T) { application = batchJourney(t, p, b, bjToken) })
	if t.Failed() {
		return
	}
	t.Run("PerformanceReturnResubmitAudit", func(t *testing.T) { performanceJourney(t, p, b, application) })
}

func intentJourney(t *testing.T, p *platform, b *browser) {
	b.t, p.t = t, t
	deadline := time.Now().Add(2 * time.Hour).Format(time.RFC3339)
	p.must("POST", "/api/v1/intent-rounds", p.adminToken, `{"round_id":"2022-r1","batch_id":"2022-1","deadline":"`+deadline+`"}`)
	p.eventually("the round is projected", func() bool { return p.call("GET", "/api/v1/intent-rounds/2022-r1", p.adminToken, "", nil) == 200 })

	// The province fills in its form; the page adds up as it types.
	b.login("bj", bjPassword)
	b.screenshot("province-dashboard")
	b.submit(`a[href="/web/intent-rounds/2022-r1/provinces/11"]`)
	b.choose(`[name="lines[0].undertake"]`, "true")
	b.typeInto(`[name="lines[0].quantity"]`, "2")
	b.typeInto(`[name="lines[0].funds.school"]`, "100.5")
	b.typeInto(`[name="lines[0].funds.provincial"]`, "20.0001")
	b.choose(`[name="lines[2].undertake"]`, "true")
	b.typeInto(`[name="lines[2].quantity"]`, "1")
	b.typeInto(`[name="lines[2].funds.industry"]`, "0.0009")
	if got := b.text("#form-total"); got != "120.501" {
		t.Fatalf("live total %q, want 120.501", got)
	}
	if got := b.text(`td.src-total[data-source="school"]`); got != "100.5" {
		t.Fatalf("live school total %q, want 100.5", got)
	}
	b.screenshot("intent-form-filled")
	b.submit(`button[value="submit"]`)
	b.ok("已提交")
	if got := b.text("#form-status"); got != "已提交" {
		t.Fatalf("status %q", got)
	}
	b.screenshot("intent-form-submitted")
	b.logout()

	// The ministry sees it in the round and the national summary, and returns it.
	b.login("admin", adminPassword)
	b.screenshot("ministry-dashboard")
	b.open("/web/intent-rounds/2022-r1")
	b.screenshot("intent-round-provinces")
	b.open("/web/intent-rounds/2022-r1/summary")
	if got := b.text("main table tr:last-child td:last-child"); got != "120.501" {
		t.Fatalf("national total %q", got)
	}
	b.screenshot("intent-summary")
	b.printPDF("intent-summary-print")
	b.open("/web/intent-rounds/2022-r1/provinces/11")
	b.typeInto("#reason", "省财政投入请附文件依据")
	b.submit(`form[action$="/return"] button`)
	b.ok("已退回")
	b.screenshot("intent-form-returned-ministry")
	b.logout()

	// The province sees why, corrects and submits again.
	b.login("bj", bjPassword)
	b.open("/web/intent-rounds/2022-r1/provinces/11")
	if alert := b.text(".alert"); !strings.Contains(alert, "省财政投入请附文件依据") {
		t.Fatalf("return reason not shown: %q", alert)
	}
	b.screenshot("intent-form-returned-province")
	// A wrong amount is refused beside its field, and nothing changes.
	b.typeInto(`[name="lines[0].funds.provincial"]`, "1.23456")
	b.submit(`button[value="submit"]`)
	if msg := b.text(".err"); msg == "" {
		t.Fatalf("no field error for 1.23456: %s", b.text("main"))
	}
	b.screenshot("intent-form-field-error")
	b.typeInto(`[name="lines[0].funds.provincial"]`, "30")
	if got := b.text("#form-total"); got != "130.5009" {
		t.Fatalf("live total %q, want 130.5009", got)
	}
	b.submit(`button[value="submit"]`)
	b.ok("已提交")
	b.screenshot("intent-form-resubmitted")
	b.printPDF("intent-form-print")
	b.logout()
}

// batchJourney returns the application that the batch published.
func batchJourney(t *testing.T, p *platform, b *browser, bjToken string) string {
	b.t, p.t = t, t
	// On the dilated clock the stage periods are years away, so that only the
	// public notice ends while the journey runs.
	deadline := p.clock.At(time.Now()).Add(dilation * time.Hour).Format(time.RFC3339)
	// The batch's quotas come from the plan batch's filed intent round: one,
	// recorded as the round's workflow records it, in which 北京 undertook two.
	for i, ev := range []struct {
		stream, typ string
		payload     any
	}{
		{intent.RoundStream("2022-rb"), intent.TypeIntentRoundOpened, intent.IntentRoundOpened{RoundID: "2022-rb", BatchID: "2022-1",
			Provinces: []string{"11"}, Deadline: time.Now().Add(time.Hour)}},
		{intent.FormStream("2022-rb", "11"), intent.TypeIntentSubmitted, intent.IntentSubmitted{RoundID: "2022-rb", Province: "11",
			Form: intent.Form{Lines: []intent.Line{{Item: "2.1", Undertake: true, Quantity: 2}}}}},
		{intent.RoundStream("2022-rb"), intent.TypeIntentRoundFiled, intent.IntentRoundFiled{RoundID: "2022-rb"}},
	} {
		data, _ := json.Marshal(ev.payload)
		if _, err := p.store.Append(context.Background(), ev.stream, events.AnyVersion, events.NewEvent{ID: events.DeriveID("browser-seed", fmt.Sprint(i)),
			Type: ev.typ, SchemaVersion: 1, Data: data, Metadata: events.Metadata{ActorID: "admin", Role: "ministry"}}); err != nil {
			t.Fatal(err)
		}
	}
	p.must("POST", "/api/v1/selection-batches", p.adminToken, `{"batch_id":"2022-yzyx","plan_batch_id":"2022-1","task_item":"2.1",
		"quota":2,"per_application":3,"notice_days":5,"deadline":"`+deadline+`",
		"period_days":{"qualification":3650,"expert_review":3650},
		"rubric":{"task_type":"YZYX","criteria":[{"key":"base","name":"建设基础","weight":60,"max":60},{"key":"plan","name":"建设方案","weight":40,"max":40}]}}`)
	p.must("POST", "/api/v1/experts", p.adminToken, `{"expert_id":"e1","name":"王专家","expertise":{"YZYX":3},"province":"31","load":5}`)
	// A panel has at least three experts; the other two score through the API.
	panel := map[string]string{}
	for _, e := range []struct{ id, name, province, org string }{{"e2", "李专家", "32", "江苏某大学"}, {"e3", "赵专家", "33", "浙江某研究院"}} {
		panel[e.id] = p.user(e.id, e.name, "expert", e.org, expertPassword)
		p.must("POST", "/api/v1/experts", p.adminToken, fmt.Sprintf(`{"expert_id":%q,"name":%q,"expertise":{"YZYX":3},"province":%q,"load":5}`, e.id, e.name, e.province))
	}
	p.eventually("the batch is projected", func() bool { return p.call("GET", "/api/v1/selection-batches/2022-yzyx", p.adminToken, "", nil) == 200 })
	// The school applies through its pages: the form, an attachment, submission.
	b.login("sa", schoolPassword)
	b.submit(`a[href="/web/applications"]`)
	b.choose("#batch_id", "2022-yzyx")
	b.choose("#province", "11")
	b.typeInto("#title", "北京市工贸技师学院申报优质技工院校")
	b.screenshot("application-new")
	b.submit(`form[action="/web/applications"] button`)
	b.ok("申报已创建")
	id := strings.TrimPrefix(b.eval(`location.pathname`), "/web/applications/")
	b.typeInto(`[name="fields.school_name"]`, "北京市工贸技师学院")
	b.typeInto(`[name="fields.founding_year"]`, "1958")
	b.typeInto(`[name="fields.enrolment"]`, "五千")
	b.submit(`#application-form button[type=submit]`)
	if msg := b.text(".err"); !strings.Contains(msg, "在校生人数") {
		t.Fatalf("no field error for 五千: %q", msg)
	}
	b.typeInto(`[name="fields.enrolment"]`, "5000")
	b.typeInto(`[name="fields.teachers"]`, "300")
	b.typeInto(`[name="fields.key_majors"]`, "数控加工")
	b.submit(`#application-form button[type=submit]`)
	b.ok("申报内容已保存")
	pdf := filepath.Join(t.TempDir(), "申报书.pdf")
	if err := os.WriteFile(pdf, []byte("%PDF-1.4\n申报书"), 0o600); err != nil {
		t.Fatal(err)
	}
	b.do(chromedp.SetUploadFiles(chromedp.ID("file"), []string{pdf}))
	b.submit(`form[action$="/attachments"] button`)
	b.ok("已上传")
	b.screenshot("application-form")
	b.submit(`form[action$="/submit"] button`)
	b.ok("申报已提交")
	if got := b.text("#app-status"); got != "已提交" {
		t.Fatalf("application status %q", got)
	}
	b.screenshot("application-submitted")
	b.logout()
	p.eventually("the application is projected", func() bool {
		var a map[string]any
		return p.call("GET", "/api/v1/applications/"+id, bjToken, "", &a) == 200 && a["status"] == "submitted"
	})

	// The province recommends it within its quota.
	b.login("bj", bjPassword)
	b.submit(`a[href="/web/selection-batches/2022-yzyx/provinces/11/recommend"]`)
	b.typeInto(`[name="rank_`+id+`"]`, "1")
	if got := b.text("#chosen"); got != "1" {
		t.Fatalf("quota counter %q", got)
	}
	b.screenshot("recommendation-list")
	b.submit(`#recommend-form button[type=submit]`)
	b.ok("已推荐 1 项")
	b.logout()

	// Ministry staff take the batch through qualification into expert review.
	b.login("admin", adminPassword)
	b.open("/web/selection-batches/2022-yzyx")
	b.screenshot("batch-board-recommendation")
	b.submit(`form[action$="/advance"] button`)
	b.ok("资格审核")
	b.open("/web/selection-batches/2022-yzyx/qualification")
	b.choose(`[name="outcome_`+id+`"]`, "passed")
	b.screenshot("qualification-queue")
	b.submit(`form[action$="/qualify"] button`)
	b.ok("已记录 1 项资格审核结论")
	b.open("/web/selection-batches/2022-yzyx")
	b.submit(`form[action$="/advance"] button`)
	b.ok("专家遴选")
	b.submit(`form[action$="/assign"] button`)
	b.ok("已分配评审专家")
	b.screenshot("batch-board-expert-review")
	b.logout()

	// The expert scores the application assigned to them.
	b.login("e1", expertPassword)
	b.submit(`a[href="/web/selection-batches/2022-yzyx/review"]`)
	b.typeInto(`[name="score_`+id+`_base"]`, "55")
	b.typeInto(`[name="score_`+id+`_plan"]`, "36")
	// Scoring needs the signed declaration of no conflict.
	b.do(chromedp.Click(chromedp.CSS(`[name="declare_no_conflict"]`)))
	b.screenshot("expert-review-form")
	b.submit(`main button[type=submit]`)
	b.ok("已提交 1 项申报的评分")
	b.logout()
	for _, e := range []string{"e2", "e3"} {
		p.must("POST", "/api/v1/selection-batches/2022-yzyx/scores", panel[e],
			`{"declare_no_conflict":true,"scores":[{"application":"`+id+`","criteria":[54,35]}]}`)
	}

	// The ministry ranks, confirms and puts the list on public notice.
	b.login("admin", adminPassword)
	b.open("/web/selection-batches/2022-yzyx")
	b.submit(`form[action$="/rank"] button`)
	b.ok("已生成拟遴选名单")
	b.submit(`form[action$="/confirm"] button`)
	b.ok("已确认遴选名单")
	b.submit(`form[action$="/advance"] button`)
	b.ok("公示")
	b.screenshot("batch-board-notice")
	b.logout()

	// Someone from the public files a real-name objection on the notice.
	b.open("/public/notices/2022-yzyx")
	b.screenshot("public-notice")
	b.printPDF("public-notice-print")
	b.typeInto(`[name="name"]`, "张三")
	b.typeInto(`[name="contact"]`, "13800000000")
	b.typeInto(`[name="text"]`, "该校在校生人数与实际不符，请核查。")
	b.submit(`form[action$="/objections"] button`)
	if !strings.Contains(b.text("body"), "您的异议已受理") {
		t.Fatalf("objection not filed: %s", b.text("body"))
	}
	b.screenshot("public-objection-filed")

	// The ministry adjudicates it from the board.
	b.login("admin", adminPassword)
	b.open("/web/selection-batches/2022-yzyx")
	if !strings.Contains(b.text("main"), "张三") {
		t.Fatalf("the board lacks the objection: %s", b.text("main"))
	}
	b.screenshot("batch-board-objection")
	b.choose(`select[name="outcome"]`, "dismissed")
	b.typeInto(`textarea[name="reason"]`, "经核查，在校生人数与学籍系统一致。")
	b.submit(`form[action$="/adjudicate"] button`)
	b.ok("异议已处理")
	if !strings.Contains(b.text("main"), "异议不成立") {
		t.Fatalf("adjudication not shown: %s", b.text("main"))
	}
	b.screenshot("batch-board-adjudicated")

	// The notice ends by its deadline timer; the board then offers publication.
	p.eventually("the end of the public notice", func() bool {
		var rec struct {
			Stage   string
			Overdue bool
		}
		return p.call("GET", "/api/v1/selection-batches/2022-yzyx", p.adminToken, "", &rec) == 200 && rec.Stage == "notice" && rec.Overdue
	}, 3*time.Minute)
	b.open("/web/selection-batches/2022-yzyx")
	b.screenshot("batch-board-notice-ended")
	b.submit(`form[action$="/publish"] button`)
	b.ok("遴选结果已公布")
	b.screenshot("batch-board-published")
	b.submit(`a[href="/public/publications/2022-yzyx"]`)
	if main := b.text("body"); !strings.Contains(main, "北京市工贸技师学院申报优质技工院校") || strings.Contains(main, "张三") {
		t.Fatalf("publication page: %s", main)
	}
	b.screenshot("public-publication")
	b.printPDF("public-publication-print")
	b.open("/web/")
	b.logout()
	return id
}

// performanceJourney: the published project's school fills in and submits its
// yearly performance report, the ministry returns it with a reason, the
// school resubmits, and an auditor reads the report stream's event timeline.
func performanceJourney(t *testing.T, p *platform, b *browser, application string) {
	b.t, p.t = t, t
	p.user("au", "审计署驻部审计局", "auditor", "审计署", auditorPassword)
	project := selection.ProjectID("2022-yzyx", application)
	opens := time.Now()
	year := opens.In(time.FixedZone("CST", 8*3600)).Year()
	ministry := events.Metadata{ActorID: "admin", Role: string(identity.RoleMinistry), Organisation: identity.MinistryOrganisation}
	if _, err := p.tc.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: workflows.PerformanceCollectionWorkflowID(year),
		TaskQueue: temporalx.TaskQueue}, workflows.PerformanceCollectionWorkflowName,
		workflows.PerformanceCollectionParams{OpensAt: opens, DeadlineAfter: 30 * 24 * time.Hour, Actor: ministry}); err != nil {
		t.Fatal(err)
	}
	report := fmt.Sprintf("/web/performance/%d/reports/%s", year, project)
	p.eventually("the report is opened and projected", func() bool {
		return p.call("GET", fmt.Sprintf("/api/v1/performance/%d/reports/%s", year, project), p.adminToken, "", nil) == 200
	})

	// The school finds its report from the dashboard and fills it in; the
	// page adds up each block as it types.
	b.login("sa", schoolPassword)
	b.submit(fmt.Sprintf(`a[href="/web/performance/%d"]`, year))
	b.screenshot("performance-list-school")
	b.submit(`a[href="` + report + `"]`)
	b.typeInto(`[name="planned.school"]`, "80")
	b.typeInto(`[name="planned.provincial"]`, "20.5")
	b.typeInto(`[name="spent.school"]`, "75.25")
	b.typeInto(`[name="spent.provincial"]`, "20.5001")
	if got := b.text("#planned-total"); got != "100.5" {
		t.Fatalf("live planned total %q, want 100.5", got)
	}
	if got := b.text("#spent-total"); got != "95.7501" {
		t.Fatalf("live spent total %q, want 95.7501", got)
	}
	b.submit(`button[value="draft"]`)
	b.ok("草稿已保存")
	if got := b.text("#report-status"); got != "草稿" {
		t.Fatalf("status %q after saving a draft", got)
	}
	// Submitting with a source left empty is refused beside the field, and
	// so, once every source is answered, is a missing required indicator.
	b.submit(`button[value="submit"]`)
	if msg := b.eval(`document.querySelector('[name="planned.industry"]').parentElement.innerText.trim()`); !strings.Contains(msg, "没有投入请填 0") {
		t.Fatalf("no field error for a missing source: %q", msg)
	}
	if got := b.text("#planned-total"); got != "100.5" {
		t.Fatalf("live planned total %q after the refusal, want 100.5", got)
	}
	b.screenshot("performance-report-source-missing")
	for _, src := range []string{"industry", "sponsor", "municipal"} {
		b.typeInto(`[name="planned.`+src+`"]`, "0")
		b.typeInto(`[name="spent.`+src+`"]`, "0")
	}
	b.submit(`button[value="submit"]`)
	if msg := b.eval(`document.querySelector('[name="indicators.students_enrolled"]').parentElement.innerText.trim()`); !strings.Contains(msg, "请填写在校生人数") {
		t.Fatalf("no field error for a missing indicator: %q", msg)
	}
	if got := b.text("#report-status"); got != "草稿" {
		t.Fatalf("status %q after a refused submission", got)
	}
	b.screenshot("performance-report-field-error")
	b.typeInto(`[name="indicators.students_enrolled"]`, "5200")
	b.typeInto(`[name="indicators.graduate_employment"]`, "97")
	b.typeInto(`[name="indicators.teachers_trained"]`, "310")
	b.typeInto("#summary", "完成实训基地改造，新增数控专业实训工位120个。")
	b.typeInto("#deviation", "省财政投入超出计划1元，为汇率差额。")
	b.screenshot("performance-report-filled")
	b.submit(`button[value="submit"]`)
	b.ok("绩效报告已提交")
	if got := b.text("#report-status"); got != "已提交" {
		t.Fatalf("status %q after submitting", got)
	}
	b.screenshot("performance-report-submitted")
	b.logout()

	// The ministry returns it with a reason.
	b.login("admin", adminPassword)
	b.open(fmt.Sprintf("/web/performance/%d", year))
	b.screenshot("performance-list-ministry")
	// It gives the schools a day more. A deadline before the current one is
	// refused beside the field; a later one moves the year's deadline, which
	// stays weeks away, so nothing later in the journey is late.
	shanghai := time.FixedZone("CST", 8*3600)
	current, err := time.ParseInLocation("2006-01-02 15:04", b.text("#collection-deadline"), shanghai)
	if err != nil {
		t.Fatalf("the page shows no current deadline: %v; %s", err, b.text("main"))
	}
	b.setValue("#deadline", current.Add(-time.Hour).Format("2006-01-02T15:04"))
	b.submit(`#extend-form button`)
	if msg := b.text("#deadline-err"); !strings.Contains(msg, "新的截止时间须晚于现截止时间（"+current.Format("2006-01-02 15:04")) {
		t.Fatalf("no field error for an earlier deadline: %q; %s", msg, b.text("main"))
	}
	if got := b.text("#collection-deadline"); got != current.Format("2006-01-02 15:04") {
		t.Fatalf("deadline %q after a refused extension", got)
	}
	b.screenshot("performance-extend-field-error")
	later := current.Add(24 * time.Hour)
	b.setValue("#deadline", later.Format("2006-01-02T15:04"))
	b.typeInto("#reason", "部分学校数据核对中")
	b.submit(`#extend-form button`)
	b.ok("截止时间已延长至 " + later.Format("2006-01-02 15:04"))
	if got := b.text("#collection-deadline"); got != later.Format("2006-01-02 15:04") {
		t.Fatalf("deadline %q after the extension, want %s", got, later.Format("2006-01-02 15:04"))
	}
	b.screenshot("performance-extended")
	b.submit(`a[href="` + report + `"]`)
	if main := b.text("main"); !strings.Contains(main, "截止时间："+later.Format("2006-01-02 15:04")) {
		t.Fatalf("the report does not show the extended deadline: %s", main)
	}
	b.typeInto("#reason", "实际投入请附支出凭证")
	b.submit(`form[action$="/return"] button`)
	b.ok("已退回")
	if got := b.text("#report-status"); got != "已退回" {
		t.Fatalf("status %q after the return", got)
	}
	b.screenshot("performance-report-returned-ministry")
	b.logout()

	// The school reads why, corrects and submits again.
	b.login("sa", schoolPassword)
	b.open(report)
	if alert := b.text(".alert"); !strings.Contains(alert, "实际投入请附支出凭证") {
		t.Fatalf("return reason not shown: %q", alert)
	}
	b.screenshot("performance-report-returned-school")
	// The return reached the school's inbox too.
	p.eventually("the return reaches the school's inbox", func() bool {
		b.open("/web/inbox")
		main := b.text("main")
		return strings.Contains(main, "执行绩效报告被退回") && strings.Contains(main, "实际投入请附支出凭证")
	})
	b.screenshot("inbox-report-returned")
	b.submit(`form[action="/web/inbox/read"] button`)
	b.ok("已全部标为已读")
	if got := b.text("#unread"); got != "0" {
		t.Fatalf("%s unread after marking all read", got)
	}
	b.open(report)
	b.typeInto(`[name="spent.provincial"]`, "20.5")
	b.typeInto("#deviation", "")
	b.submit(`button[value="submit"]`)
	b.ok("绩效报告已提交")
	if got := b.text("#report-status"); got != "已提交" {
		t.Fatalf("status %q after resubmitting", got)
	}
	b.screenshot("performance-report-resubmitted")
	// The school follows its project's timeline from the report.
	b.submit(`a[href="/web/projects/` + project + `/timeline"]`)
	if main := b.text("main"); !strings.Contains(main, "项目公布立项") {
		t.Fatalf("project timeline: %s", main)
	}
	b.screenshot("project-timeline-school")
	b.logout()

	// The ministry accepts it: locked, it is final.
	b.login("admin", adminPassword)
	b.open(report)
	b.submit(`form[action$="/lock"] button`)
	b.ok("绩效报告已锁定")
	if got := b.text("#report-status"); got != "已锁定" {
		t.Fatalf("status %q after locking", got)
	}
	if n := b.eval(`String(document.querySelectorAll("#report-form button, form[action$='/return']").length)`); n != "0" {
		t.Fatalf("a locked report still offers %s actions", n)
	}
	b.screenshot("performance-report-locked")
	b.printPDF("performance-report-print")
	b.logout()

	// An auditor reads the report's stream: who did what, in which role and
	// organisation, through which workflow.
	b.login("au", auditorPassword)
	b.open(report)
	b.submit(`a[href="/web/streams/` + performance.ReportStream(year, project) + `/timeline"]`)
	rows := b.eval(`Array.from(document.querySelectorAll("#timeline tbody tr")).map(tr =>
		Array.from(tr.cells).map(c => c.innerText.trim()).join("|")).join("\n")`)
	for _, want := range []string{performance.TypeReportOpened, performance.TypeReportSubmitted + "）|sa|技工院校|11-001|",
		"退回（" + performance.TypeReportReturned + "）|admin|部|", performance.TypeReportDraftSaved} {
		if !strings.Contains(rows, want) {
			t.Fatalf("event timeline lacks %q:\n%s", want, rows)
		}
	}
	if n := strings.Count(rows, performance.TypeReportSubmitted); n != 2 {
		t.Fatalf("%d submissions on the timeline, want 2:\n%s", n, rows)
	}
	if !strings.Contains(rows, workflows.PerformanceCollectionWorkflowID(year)) {
		t.Fatalf("the timeline names no workflow:\n%s", rows)
	}
	b.screenshot("audit-event-timeline")
	// The batch's own events, from its stage board.
	b.open("/web/selection-batches/2022-yzyx")
	b.submit(`a[href="/web/streams/selection-batch-2022-yzyx/timeline"]`)
	if rows := b.text("#timeline"); !strings.Contains(rows, selection.TypeSelectionBatchPublished) {
		t.Fatalf("the batch timeline lacks the publication: %s", rows)
	}
	b.screenshot("audit-batch-timeline")
	b.logout()

	// The project's province reads its timeline too.
	b.login("bj", bjPassword)
	b.open("/web/projects/" + project + "/timeline")
	if main := b.text("main"); !strings.Contains(main, "项目公布立项") || !strings.Contains(main, "selection-batch-2022-yzyx") {
		t.Fatalf("project timeline: %s", main)
	}
	b.screenshot("project-timeline-province")
	b.logout()
}
