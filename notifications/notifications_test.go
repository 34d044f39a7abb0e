package notifications_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/emersion/go-smtp"
	"github.com/prometheus/client_golang/prometheus"

	"keytask/db/pgtest"
	"keytask/domain"
	"keytask/domain/identity"
	"keytask/domain/intent"
	"keytask/domain/performance"
	"keytask/domain/selection"
	"keytask/domain/tracking"
	"keytask/events"
	"keytask/notifications"
	"keytask/projections"
)

// testRegistry is shared by every service a test starts, as by a restarted
// process's services; each test that counts sets a fresh one.
var testRegistry = prometheus.NewRegistry()

func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// received is one message as the SMTP server got it.
type received struct {
	messageID string
	rcpt      string
	subject   string
}

// smtpSink is a real SMTP server (go-smtp) that keeps what it receives.
type smtpSink struct {
	mu   sync.Mutex
	msgs []received
	addr string
}

func (k *smtpSink) NewSession(*smtp.Conn) (smtp.Session, error) { return &sinkSession{sink: k}, nil }

type sinkSession struct {
	sink *smtpSink
	rcpt []string
}

func (s *sinkSession) Reset()                               { s.rcpt = nil }
func (s *sinkSession) Logout() error                        { return nil }
func (s *sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if strings.HasPrefix(to, "bounce@") {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	}
	s.rcpt = append(s.rcpt, to)
	return nil
}
func (s *sinkSession) Data(r io.Reader) error {
	m, err := mail.ReadMessage(r)
	if err != nil {
		return err
	}
	if _, err := io.Copy(io.Discard, m.Body); err != nil {
		return err
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		return err
	}
	s.sink.mu.Lock()
	defer s.sink.mu.Unlock()
	for _, to := range s.rcpt {
		s.sink.msgs = append(s.sink.msgs, received{m.Header.Get("Message-ID"), to, subject})
	}
	return nil
}

func startSMTP(t *testing.T) *smtpSink {
	t.Helper()
	k := &smtpSink{}
	srv := smtp.NewServer(k)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	k.addr = l.Addr().String()
	go srv.Serve(l) //nolint:errcheck // ends with Close
	t.Cleanup(func() { srv.Close() })
	return k
}

func (k *smtpSink) received() []received {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.msgs)
}

// appender appends typed payloads with derived ids.
type appender struct {
	t     *testing.T
	store *events.Store
	ids   map[string]string // label -> event id
}

func (a *appender) add(label, stream, typ string, payload any) string {
	a.t.Helper()
	data, err := json.Marshal(payload)
	if err != nil {
		a.t.Fatal(err)
	}
	id := events.DeriveID("notifications-test", label)
	if _, err := a.store.Append(context.Background(), stream, events.AnyVersion, events.NewEvent{
		ID: id, Type: typ, SchemaVersion: 1, Data: data, Metadata: events.Metadata{ActorID: "test"},
	}); err != nil {
		a.t.Fatalf("append %s: %v", label, err)
	}
	a.ids[label] = id.String()
	return id.String()
}

// duplicate delivers every message twice.
var duplicate = message.HandlerMiddleware(middleware.Duplicator)

// ackLostOnce fails every message once after the notifier has committed it,
// as when an acknowledgement is lost: Watermill's retry delivers it again.
func ackLostOnce() message.HandlerMiddleware {
	var mu sync.Mutex
	seen := map[string]bool{}
	return func(h message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			out, err := h(msg)
			mu.Lock()
			first := !seen[msg.UUID]
			seen[msg.UUID] = true
			mu.Unlock()
			if err == nil && first {
				return nil, errors.New("acknowledgement lost")
			}
			return out, err
		}
	}
}

// withMailMaxAge is an option of runService.
type withMailMaxAge time.Duration

func runService(t *testing.T, d *pgtest.DB, s *events.Store, m notifications.Mailer, opts ...any) (*notifications.Service, func()) {
	t.Helper()
	o := notifications.Options{Mailer: m, Registry: testRegistry, Logger: testLogger(), Poll: 50 * time.Millisecond}
	for _, opt := range opts {
		switch v := opt.(type) {
		case message.HandlerMiddleware:
			o.Middleware = append(o.Middleware, v)
		case withMailMaxAge:
			o.MailMaxAge = time.Duration(v)
		default:
			t.Fatalf("runService: unknown option %T", opt)
		}
	}
	svc, err := notifications.New(d.Pool, s, o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("notifier Run: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("notifier did not stop")
			}
		})
	}
	t.Cleanup(stop)
	return svc, stop
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func caughtUp(t *testing.T, w interface{ WaitCaughtUp(context.Context) error }) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := w.WaitCaughtUp(ctx); err != nil {
		t.Fatal(err)
	}
}

func count(t *testing.T, d *pgtest.DB, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := d.Pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// pairs returns "event|recipient" keys with their counts.
func inboxPairs(t *testing.T, d *pgtest.DB) map[string]int {
	t.Helper()
	rows, err := d.Pool.Query(context.Background(), `SELECT event_id::text, user_id FROM inbox`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var e, u string
		if err := rows.Scan(&e, &u); err != nil {
			t.Fatal(err)
		}
		out[e+"|"+u]++
	}
	return out
}

func sortedKeys(m map[string]int) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// Every event is delivered twice by Watermill, and retried once after its
// first delivery committed; then, after the notifier's checkpoint and offset
// are reset, the whole log is delivered twice more: each recipient
// still has exactly one inbox entry and one mail per source event.
func TestRedeliveryGivesOneNoticeEach(t *testing.T) {
	t.Parallel()
	testRegistry = prometheus.NewRegistry()
	d := pgtest.New(t)
	s := events.NewStore(d.Pool)
	sink := startSMTP(t)
	ctx := context.Background()
	a := &appender{t: t, store: s, ids: map[string]string{}}

	// People.
	users := []identity.UserRegistered{
		{UserID: "min", Name: "部", Role: identity.RoleMinistry, Organisation: identity.MinistryOrganisation},
		{UserID: "p11a", Name: "北京甲", Role: identity.RoleProvince, Organisation: "11"},
		{UserID: "p11b", Name: "北京乙", Role: identity.RoleProvince, Organisation: "11"},
		{UserID: "p12a", Name: "天津甲", Role: identity.RoleProvince, Organisation: "12"},
		{UserID: "s1a", Name: "一校甲", Role: identity.RoleSchool, Organisation: "S1"},
		{UserID: "s1b", Name: "一校乙", Role: identity.RoleSchool, Organisation: "S1"},
		{UserID: "s2a", Name: "二校甲", Role: identity.RoleSchool, Organisation: "S2"},
		{UserID: "v1", Name: "评估甲", Role: identity.RoleEvaluator, Organisation: "某评估机构"},
		{UserID: "v2", Name: "评估乙", Role: identity.RoleEvaluator, Organisation: "某评估机构"},
		{UserID: "e1", Name: "专家甲", Role: identity.RoleExpert, Organisation: "专家库"},
		{UserID: "e2", Name: "专家乙", Role: identity.RoleExpert, Organisation: "专家库"},
	}
	for _, u := range users {
		a.add("user-"+u.UserID, identity.UserStream(u.UserID), identity.TypeUserRegistered, u)
	}
	a.add("liaison-11", intent.LiaisonStream("11"), intent.TypeLiaisonRegistered,
		intent.LiaisonRegistered{Province: "11", Name: "张三", Phone: "13800000000", Email: "Zhang@Example.org"})
	a.add("liaison-12", intent.LiaisonStream("12"), intent.TypeLiaisonRegistered,
		intent.LiaisonRegistered{Province: "12", Name: "李四", Phone: "13900000000", Email: "li@example.org"})

	// A school user who wants mail too; another who set an address and withdrew it.
	a.add("email-s1a", identity.SettingsStream("s1a"), identity.TypeEmailSet,
		identity.EmailSet{UserID: "s1a", Email: "s1a@school.example"})
	a.add("email-s1b", identity.SettingsStream("s1b"), identity.TypeEmailSet,
		identity.EmailSet{UserID: "s1b", Email: "s1b@school.example"})
	a.add("email-s1b-off", identity.SettingsStream("s1b"), identity.TypeEmailSet,
		identity.EmailSet{UserID: "s1b", Email: ""})

	// Intent reminders: the province's users and its liaison's mail.
	for _, prov := range []string{"11", "12"} {
		for _, off := range []time.Duration{72 * time.Hour, 24 * time.Hour} {
			a.add(fmt.Sprintf("intent-reminder-%s-%d", prov, off/time.Hour), intent.RoundStream("R1"), intent.TypeIntentReminderSent,
				intent.IntentReminderSent{RoundID: "R1", Province: prov, Offset: off})
		}
	}

	// A project of school S1 in province 11.
	a.add("app", selection.ApplicationStream("A1"), selection.TypeApplicationCreated, selection.ApplicationCreated{
		ApplicationID: "A1", BatchID: "B1", TaskItem: "2.1", TaskType: "YZYX", School: "S1", Province: "11", Title: "一校申报"})
	project := selection.ProjectID("B1", "A1")
	a.add("project", selection.ProjectStream(project), selection.TypeProjectCreated, selection.ProjectCreated{
		ProjectID: project, BatchID: "B1", TaskItem: "2.1", TaskType: "YZYX", Application: "A1", Province: "11", Rank: 1})

	// Performance: reminders to the school, escalation to the province, return to the school.
	deadline := time.Date(2023, 12, 31, 16, 0, 0, 0, time.UTC)
	report := performance.ReportStream(2023, project)
	a.add("report-opened", report, performance.TypeReportOpened, performance.ReportOpened{
		Year: 2023, ProjectID: project, BatchID: "B1", School: "S1", Province: "11", Deadline: deadline})
	// The deadline moves: both schools still owe a report.
	a.add("extended", performance.CollectionStream(2023), performance.TypeCollectionDeadlineExtended, performance.CollectionDeadlineExtended{
		Year: 2023, From: deadline, To: deadline.Add(19 * 24 * time.Hour), Reason: "年末结算延后", Schools: []string{"S1", "S2"}})
	for _, days := range []int{14, 7} {
		a.add(fmt.Sprintf("perf-reminder-%d", days), performance.CollectionStream(2023), performance.TypeReminderSent, performance.ReminderSent{
			Year: 2023, ProjectID: project, School: "S1", Province: "11", Offset: time.Duration(days) * 24 * time.Hour, Deadline: deadline})
	}
	a.add("escalated", performance.CollectionStream(2023), performance.TypeEscalated, performance.Escalated{
		Year: 2023, Province: "11", Projects: []string{project}, Deadline: deadline})
	a.add("returned", report, performance.TypeReportReturned, map[string]any{"year": 2023, "project_id": project, "reason": "支出明细不全"})

	// Tracking: the school and its province.
	a.add("assigned", selection.ProjectStream(project), tracking.TypeEvaluatorAssigned, tracking.EvaluatorAssigned{
		ProjectID: project, Evaluator: "v1"})
	a.add("inspection", selection.ProjectStream(project), tracking.TypeInspectionScheduled, tracking.InspectionScheduled{
		ProjectID: project, InspectionID: "I1", Date: time.Date(2024, 5, 6, 0, 0, 0, 0, time.UTC)})
	a.add("flagged", selection.ProjectStream(project), tracking.TypeProjectFlagged, tracking.ProjectFlagged{
		ProjectID: project, Reason: "进度滞后", RectifyBy: time.Date(2024, 9, 30, 16, 0, 0, 0, time.UTC)})
	a.add("revoked", selection.ProjectStream(project), tracking.TypeProjectRevoked, tracking.ProjectRevoked{
		ProjectID: project, Reason: "整改不到位"})

	// A selection batch, told stage by stage: provinces when it opens, the
	// school whose application is returned, experts when assigned, the
	// ministry when an objection is filed, the school that moves up, and
	// every applicant when the result is published.
	a.add("app2", selection.ApplicationStream("A2"), selection.TypeApplicationCreated, selection.ApplicationCreated{
		ApplicationID: "A2", BatchID: "B1", TaskItem: "2.1", TaskType: "YZYX", School: "S2", Province: "12", Title: "二校申报"})
	batch := selection.SelectionBatchStream("B1")
	a.add("sel-opened", batch, selection.TypeSelectionBatchOpened, selection.SelectionBatchOpened{BatchID: "B1", TaskItem: "2.1", TaskType: "YZYX",
		Quota: 1, ProvinceQuotas: map[string]int{"11": 1, "12": 1, "13": 0}, Deadline: deadline})
	a.add("sel-rec-11", batch, selection.TypeApplicationsRecommended, selection.ApplicationsRecommended{Province: "11", Applications: []string{"A1"}})
	a.add("sel-rec-12", batch, selection.TypeApplicationsRecommended, selection.ApplicationsRecommended{Province: "12", Applications: []string{"A2"}})
	a.add("sel-qualified", batch, selection.TypeQualificationDecided, selection.QualificationDecided{Decisions: []selection.QualificationDecision{
		{Application: "A1", Outcome: selection.Passed}, {Application: "A2", Outcome: selection.Returned, Reason: "缺少佐证材料", Until: deadline}}})
	a.add("sel-assigned", batch, selection.TypeExpertsAssigned, selection.ExpertsAssigned{Round: 1, Assignments: []selection.ExpertAssignment{
		{Application: "A1", Experts: []string{"e1", "e2"}}, {Application: "A2", Experts: []string{"e1"}}}})
	a.add("sel-objection", batch, selection.TypeObjectionFiled, selection.ObjectionFiled{ObjectionID: "o1", Application: "A1",
		Name: "王异议", Contact: "13700000000", Text: "材料不实"})
	a.add("sel-moved-up", batch, selection.TypeSuccessorNoticed, selection.SuccessorNoticed{Application: "A2", Replaces: "A1", ObjectionID: "o1",
		Start: deadline, End: deadline.Add(7 * 24 * time.Hour), WorkingDays: 5})
	a.add("sel-published", batch, selection.TypeSelectionBatchPublished, selection.SelectionBatchPublished{List: []string{"A2"}})

	// A user registered after every notice must receive none of them.
	a.add("user-late", identity.UserStream("p11late"), identity.TypeUserRegistered,
		identity.UserRegistered{UserID: "p11late", Name: "北京迟", Role: identity.RoleProvince, Organisation: "11"})

	// The expected notices, written out by hand.
	wantInbox := map[string]int{}
	wantMail := map[string]int{}
	inbox := func(label string, us ...string) {
		for _, u := range us {
			wantInbox[a.ids[label]+"|"+u] = 1
		}
	}
	mailTo := func(label, addr string) {
		wantMail[a.ids[label]+"|"+addr] = 1
	}
	for _, off := range []string{"72", "24"} {
		inbox("intent-reminder-11-"+off, "p11a", "p11b")
		mailTo("intent-reminder-11-"+off, "zhang@example.org")
		inbox("intent-reminder-12-"+off, "p12a")
		mailTo("intent-reminder-12-"+off, "li@example.org")
	}
	inbox("perf-reminder-14", "s1a", "s1b")
	inbox("perf-reminder-7", "s1a", "s1b")
	for _, l := range []string{"perf-reminder-14", "perf-reminder-7", "returned", "inspection", "flagged", "revoked"} {
		mailTo(l, "s1a@school.example")
	}
	inbox("escalated", "p11a", "p11b")
	inbox("extended", "s1a", "s1b", "s2a")
	mailTo("extended", "s1a@school.example")
	mailTo("escalated", "zhang@example.org")
	inbox("returned", "s1a", "s1b")
	inbox("assigned", "v1")
	for _, l := range []string{"inspection", "flagged", "revoked"} {
		inbox(l, "s1a", "s1b", "p11a", "p11b")
	}

	inbox("sel-opened", "p11a", "p11b", "p12a")
	mailTo("sel-opened", "zhang@example.org")
	mailTo("sel-opened", "li@example.org")
	inbox("sel-qualified", "s2a")
	inbox("sel-assigned", "e1", "e2")
	inbox("sel-objection", "min")
	inbox("sel-moved-up", "s2a")
	inbox("sel-published", "s1a", "s1b", "s2a")
	mailTo("sel-published", "s1a@school.example")

	// The read models the notifier takes recipients from.
	pr, err := projections.NewProjector(d.Pool, s, nil, testLogger(), projections.All()...)
	if err != nil {
		t.Fatal(err)
	}
	prCtx, prCancel := context.WithCancel(ctx)
	prDone := make(chan error, 1)
	go func() { prDone <- pr.Run(prCtx) }()
	t.Cleanup(func() { prCancel(); <-prDone })

	mailer := notifications.SMTPMailer{Addr: sink.addr, From: "平台 <noreply@keytask.test>", Security: notifications.SecurityNone}
	check := func(t *testing.T) {
		t.Helper()
		got := inboxPairs(t, d)
		if !equalCounts(got, wantInbox) {
			t.Fatalf("inbox (event|user → count):\n got %v\nwant %v", sortedKeys(got), sortedKeys(wantInbox))
		}
		for k, n := range got {
			if n != 1 {
				t.Errorf("inbox %s: %d entries", k, n)
			}
		}
		waitFor(t, "the outbox to drain", func() bool {
			return count(t, d, `SELECT count(*) FROM mail_outbox WHERE sent_at IS NULL AND gave_up_at IS NULL`) == 0
		})
		// Each received Message-ID names an outbox row; that row names the
		// source event.
		source := map[string]string{}
		rows, err := d.Pool.Query(ctx, `SELECT mail_id, event_id::text FROM mail_outbox`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id, ev string
			if err := rows.Scan(&id, &ev); err != nil {
				t.Fatal(err)
			}
			source["<"+id+"@keytask>"] = ev
		}
		gotMail := map[string]int{}
		for _, m := range sink.received() {
			ev, ok := source[m.messageID]
			if !ok {
				t.Fatalf("received mail %s that is not in the outbox", m.messageID)
			}
			gotMail[ev+"|"+m.rcpt]++
			if m.subject == "" {
				t.Errorf("mail %s has no subject", m.messageID)
			}
		}
		if !equalCounts(gotMail, wantMail) {
			t.Fatalf("mail (message id|rcpt → count):\n got %v\nwant %v", gotMail, wantMail)
		}
	}

	svc, stop := runService(t, d, s, mailer, duplicate, ackLostOnce())
	caughtUp(t, pr)
	caughtUp(t, svc)
	check(t)
	if n := count(t, d, `SELECT count(*) FROM watermill_projection_poison`); n != 0 {
		t.Fatalf("%d messages poisoned", n)
	}
	var title, body string
	if err := d.Pool.QueryRow(ctx, `SELECT title, body FROM inbox WHERE event_id = $1 AND user_id = 's2a'`, a.ids["extended"]).Scan(&title, &body); err != nil {
		t.Fatal(err)
	}
	if title != "2023年度执行绩效采集延期" || !strings.HasPrefix(body, "2023年度执行绩效采集截止时间已延长至2024年1月20日 00:00") ||
		!strings.Contains(body, "年末结算延后") {
		t.Errorf("extension notice %q %q", title, body)
	}

	t.Run("CheckpointReset", func(t *testing.T) {
		// As after a restore whose offsets were reset: every event comes
		// again, twice. The keys, not the checkpoint, must hold.
		stop()
		if _, err := d.Owner.Exec(ctx, `UPDATE watermill_offsets_events SET offset_acked = 0, last_processed_transaction_id = '0'
			WHERE consumer_group = $1`, projections.ConsumerGroup(notifications.Name)); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Pool.Exec(ctx, `UPDATE projection_checkpoints SET tx_id = '0', seq = 0 WHERE name = $1`, notifications.Name); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Pool.Exec(ctx, `TRUNCATE notification_emails, notification_projects, notification_reports`); err != nil {
			t.Fatal(err)
		}
		applied := `SELECT events FROM projection_checkpoints WHERE name = 'notifications'`
		before := count(t, d, applied)
		svc, _ := runService(t, d, s, mailer, duplicate)
		caughtUp(t, svc)
		if got, all := count(t, d, applied)-before, count(t, d, `SELECT count(*) FROM events`); got != all {
			t.Fatalf("the notifier applied %d events again, want all %d", got, all)
		}
		check(t)
	})

	t.Run("MailAfterRelayOutage", func(t *testing.T) {
		// The relay is down when the notice is committed: the mail waits in
		// the outbox and goes out exactly once when the relay is back.
		down := notifications.SMTPMailer{Addr: "127.0.0.1:1", From: "noreply@keytask.test", Security: notifications.SecurityNone, Timeout: 2 * time.Second}
		svc, stop := runService(t, d, s, down)
		a.add("intent-reminder-12-1", intent.RoundStream("R1"), intent.TypeIntentReminderSent,
			intent.IntentReminderSent{RoundID: "R1", Province: "12", Offset: time.Hour})
		inbox("intent-reminder-12-1", "p12a")
		mailTo("intent-reminder-12-1", "li@example.org")
		caughtUp(t, svc)
		waitFor(t, "a failed attempt", func() bool {
			return count(t, d, `SELECT count(*) FROM mail_outbox WHERE attempts > 0 AND sent_at IS NULL AND last_error <> ''`) == 1
		})
		stop()
		svc, _ = runService(t, d, s, mailer, duplicate)
		caughtUp(t, svc)
		check(t)
	})

	t.Run("StaleEventGivesNoMail", func(t *testing.T) {
		// The notifier reaches the event only after it is older than the
		// notifier's MailMaxAge, as after a long outage.
		a.add("intent-reminder-stale", intent.RoundStream("R0"), intent.TypeIntentReminderSent,
			intent.IntentReminderSent{RoundID: "R0", Province: "12", Offset: 24 * time.Hour})
		time.Sleep(20 * time.Millisecond)
		svc, _ := runService(t, d, s, mailer, withMailMaxAge(10*time.Millisecond))
		caughtUp(t, svc)
		if n := count(t, d, `SELECT count(*) FROM inbox WHERE event_id = $1 AND user_id = 'p12a'`, a.ids["intent-reminder-stale"]); n != 1 {
			t.Fatalf("stale reminder: %d inbox entries, want 1", n)
		}
		if n := count(t, d, `SELECT count(*) FROM mail_outbox WHERE event_id = $1`, a.ids["intent-reminder-stale"]); n != 0 {
			t.Fatalf("stale reminder: %d mails, want none", n)
		}
		inbox("intent-reminder-stale", "p12a")
		check(t)
	})

	t.Run("RejectedRecipient", func(t *testing.T) {
		// The relay refuses the address for good: the mail is given up after
		// one attempt, and the inbox entry stands.
		a.add("email-s2a", identity.SettingsStream("s2a"), identity.TypeEmailSet,
			identity.EmailSet{UserID: "s2a", Email: "bounce@school.example"})
		a.add("perf-reminder-s2", performance.CollectionStream(2023), performance.TypeReminderSent, performance.ReminderSent{
			Year: 2023, ProjectID: "B1.A2", School: "S2", Province: "12", Offset: 3 * 24 * time.Hour, Deadline: deadline})
		inbox("perf-reminder-s2", "s2a")
		svc, _ := runService(t, d, s, mailer)
		caughtUp(t, svc)
		waitFor(t, "the rejected mail to be given up", func() bool {
			return count(t, d, `SELECT count(*) FROM mail_outbox WHERE event_id = $1 AND gave_up_at IS NOT NULL AND attempts = 1 AND sent_at IS NULL`,
				a.ids["perf-reminder-s2"]) == 1
		})
		check(t)
	})

	t.Run("MailMetrics", func(t *testing.T) {
		counts := map[string]float64{}
		mfs, err := testRegistry.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				if m.GetCounter() != nil {
					counts[mf.GetName()] += m.GetCounter().GetValue()
				}
			}
		}
		if got := counts["keytask_notification_mail_sent_total"]; got != float64(len(wantMail)) {
			t.Errorf("mail sent counter %v, want %d", got, len(wantMail))
		}
		if counts["keytask_notification_mail_failures_total"] < 1 {
			t.Errorf("mail failures counter %v, want at least 1", counts["keytask_notification_mail_failures_total"])
		}
	})

	t.Run("InboxReadState", func(t *testing.T) {
		entries, unread, err := notifications.Inbox(ctx, d.Pool, "s1a", false, 100)
		if err != nil {
			t.Fatal(err)
		}
		// Two reminders, the extension, the return, the inspection, the flag,
		// the revocation and the selection result.
		if len(entries) != 8 || unread != 8 {
			t.Fatalf("s1a has %d entries, %d unread; want 8 and 8", len(entries), unread)
		}
		if err := notifications.MarkRead(ctx, d.Pool, "s1a", entries[0].ID, time.Now()); err != nil {
			t.Fatal(err)
		}
		if err := notifications.MarkRead(ctx, d.Pool, "s1b", entries[0].ID, time.Now()); err != notifications.ErrNoEntry {
			t.Fatalf("marking another user's entry: %v, want ErrNoEntry", err)
		}
		_, unread, _ = notifications.Inbox(ctx, d.Pool, "s1a", true, 100)
		if unread != 7 {
			t.Fatalf("unread %d after marking one, want 7", unread)
		}
	})
}

// The development sink keeps one file per mail however often it is sent.
func TestDirMailer(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	m := notifications.DirMailer{Dir: dir, From: "全国技工教育重点任务管理平台 <noreply@keytask.test>"}
	ml := notifications.Mail{ID: notifications.Key("src", "mail", "a@b.c"), To: "a@b.c", Subject: "执行绩效报告被退回",
		Body: "请修改后重新提交。", CreatedAt: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)}
	for range 2 {
		if err := m.Send(context.Background(), ml); err != nil {
			t.Fatal(err)
		}
	}
	files, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 || files[0].Name() != ml.ID+".eml" {
		t.Fatalf("files %v, want one %s.eml", files, ml.ID)
	}
	f, err := os.Open(filepath.Join(dir, files[0].Name()))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	msg, err := mail.ReadMessage(f)
	if err != nil {
		t.Fatal(err)
	}
	subject, _ := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	body, _ := io.ReadAll(base64.NewDecoder(base64.StdEncoding, msg.Body))
	from, err := msg.Header.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Name != "全国技工教育重点任务管理平台" || from[0].Address != "noreply@keytask.test" {
		t.Fatalf("From %q: %v %v", msg.Header.Get("From"), from, err)
	}
	if subject != ml.Subject || string(body) != ml.Body || msg.Header.Get("Message-ID") != "<"+ml.ID+"@keytask>" {
		t.Fatalf("subject %q body %q id %q", subject, body, msg.Header.Get("Message-ID"))
	}
}

func TestValidateEmail(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"": "", " A@Example.ORG ": "a@example.org"} {
		if got, err := identity.ValidateEmail(in); err != nil || got != want {
			t.Errorf("%q: %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"a", "a@b", "张三 <a@b.org>", "a@@b.org"} {
		var fe *domain.FieldError
		if _, err := identity.ValidateEmail(bad); !errors.As(err, &fe) || fe.Field != "email" {
			t.Errorf("%q: %v, want a field error on email", bad, err)
		}
	}
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
