package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"keytask/app"
	"keytask/attachments"
	"keytask/db/pgtest"
	"keytask/domain"
	"keytask/domain/identity"
	"keytask/domain/selection"
	"keytask/events"
)

// fixture is an application layer on a database of its own, with one open
// selection batch and a school that applies to it.
type fixture struct {
	t      testing.TB
	pool   *pgxpool.Pool
	app    *app.App
	store  *events.Store
	school app.Request
	by     identity.Principal
}

const batchID = "b1"

func newFixture(t testing.TB) *fixture { return newFixtureSized(t, 1<<20) }

// newFixtureSized is newFixture with files of up to maxSize bytes.
func newFixtureSized(t testing.TB, maxSize int64) *fixture {
	t.Helper()
	d := pgtest.New(t)
	store := events.NewStore(d.Pool)
	f := &fixture{t: t, pool: d.Pool, store: store, app: app.New(store, attachments.NewStore(d.Pool, maxSize), nil),
		by:     identity.Principal{UserID: "sa", Role: identity.RoleSchool, Organisation: "11-001"},
		school: app.Request{Meta: events.Metadata{ActorID: "sa", Role: string(identity.RoleSchool), Organisation: "11-001"}}}
	// The batch's workflow records its opening; the test records it as it would.
	data, _ := json.Marshal(selection.SelectionBatchOpened{BatchID: batchID, TaskItem: "2-1", TaskType: "SZJD", Quota: 10})
	if _, err := store.Append(context.Background(), selection.SelectionBatchStream(batchID), events.NoStream, events.NewEvent{
		ID: events.DeriveID("test-batch", batchID), Type: selection.TypeSelectionBatchOpened, SchemaVersion: 1, Data: data,
		Metadata: events.Metadata{ActorID: "admin", Role: "ministry"},
	}); err != nil {
		t.Fatal(err)
	}
	return f
}

// create files a draft application under key and returns its id. Each key
// is a school of its own, since a school applies once per batch.
func (f *fixture) create(key string) string {
	f.t.Helper()
	req := f.school
	req.Key = key
	by := f.by
	by.Organisation = "11-" + key
	c, err := f.app.CreateApplication(context.Background(), app.CreateApplication{Request: req, By: by, BatchID: batchID,
		Title: "思政课师资研修基地", Province: "11"})
	if err != nil {
		f.t.Fatal(err)
	}
	return c.ApplicationID
}

// attach uploads content under key; opened tells whether the file was read.
func (f *fixture) attach(id, key, name string, content []byte) (att app.AttachedFile, opened bool, err error) {
	req := f.school
	req.Key = key
	att, err = f.app.AttachFile(context.Background(), app.AttachFile{Request: req, ApplicationID: id,
		Open: func() (string, io.Reader, error) {
			opened = true
			return name, bytes.NewReader(content), nil
		}})
	return att, opened, err
}

func (f *fixture) stream(id string) []events.Event {
	f.t.Helper()
	evs, err := f.store.ReadStream(context.Background(), selection.ApplicationStream(id), events.ReadOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return evs
}

func pdf(text string) []byte { return []byte("%PDF-1.4\n" + text + "\n%%EOF\n") }

func wantField(t *testing.T, err error, field string) {
	t.Helper()
	var fe *domain.FieldError
	if !errors.As(err, &fe) || fe.Field != field {
		t.Fatalf("got %v, want a refusal naming %q", err, field)
	}
}

func TestAttachFile(t *testing.T) {
	f := newFixture(t)
	t.Run("OK", func(t *testing.T) {
		id := f.create("create-ok")
		att, _, err := f.attach(id, "", "plan.pdf", pdf("plan"))
		if err != nil {
			t.Fatal(err)
		}
		if att.Replayed || att.Name != "plan.pdf" || att.MediaType != attachments.PDF {
			t.Fatalf("got %+v", att)
		}
		before := len(f.stream(id))
		again, _, err := f.attach(id, "", "plan-copy.pdf", pdf("plan"))
		if err != nil || !again.Replayed || again.Name != "plan.pdf" {
			t.Fatalf("the same content again: got %+v, %v; want the first attachment, replayed", again, err)
		}
		if got := len(f.stream(id)); got != before {
			t.Fatalf("the same content again appended: %d events, want %d", got, before)
		}
	})
	t.Run("KeyNamesTheEvent", func(t *testing.T) {
		id := f.create("create-key")
		if _, _, err := f.attach(id, "upload-1", "a.pdf", pdf("a")); err != nil {
			t.Fatal(err)
		}
		evs := f.stream(id)
		last := evs[len(evs)-1]
		if want := app.EventID(f.school.Meta, "upload-1", selection.TypeApplicationAttachmentAdded); last.ID != want {
			t.Fatalf("attachment event id %s, want %s derived from the idempotency key", last.ID, want)
		}
	})
	t.Run("ErrKeyReused", func(t *testing.T) {
		id := f.create("create-reuse")
		if _, _, err := f.attach(id, "upload-2", "a.pdf", pdf("a")); err != nil {
			t.Fatal(err)
		}
		again, _, err := f.attach(id, "upload-2", "a.pdf", pdf("a"))
		if err != nil || !again.Replayed {
			t.Fatalf("the same upload under its key: got %+v, %v; want replayed", again, err)
		}
		before := len(f.stream(id))
		_, _, err = f.attach(id, "upload-2", "b.pdf", pdf("b"))
		wantField(t, err, "Idempotency-Key")
		if got := len(f.stream(id)); got != before {
			t.Fatalf("another file under a spent key appended: %d events, want %d", got, before)
		}
	})
	t.Run("ErrClosedIsNotRead", func(t *testing.T) {
		id := f.create("create-closed")
		if _, _, err := f.attach(id, "", "a.pdf", pdf("a")); err != nil {
			t.Fatal(err)
		}
		req := f.school
		if _, _, err := f.app.EditApplication(context.Background(), app.EditApplication{Request: req, ApplicationID: id,
			Title: "思政课师资研修基地", Fields: map[string]json.RawMessage{
				"school_name": json.RawMessage(`"北京技师学院"`), "base_name": json.RawMessage(`"研修基地"`),
				"ideology_teachers": json.RawMessage(`12`), "trainees_per_year": json.RawMessage(`300`),
			}}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.app.SubmitApplication(context.Background(), app.SubmitApplication{Request: req, ApplicationID: id}); err != nil {
			t.Fatal(err)
		}
		_, opened, err := f.attach(id, "", "late.pdf", pdf("late"))
		var ce *domain.ConflictError
		if !errors.As(err, &ce) || ce.Field != "status" {
			t.Fatalf("got %v, want a conflict on status", err)
		}
		if opened {
			t.Fatal("the file of a submitted application was read")
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		_, opened, err := f.attach("nobody", "", "a.pdf", pdf("a"))
		var nf *app.NotFoundError
		if !errors.As(err, &nf) || opened {
			t.Fatalf("got %v (file read: %v), want *app.NotFoundError before reading", err, opened)
		}
	})
}

func TestCreateApplication(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	cmd := app.CreateApplication{Request: f.school, By: f.by, BatchID: batchID, Title: "研修基地", Province: "11"}
	t.Run("ErrKeyRequired", func(t *testing.T) {
		_, err := f.app.CreateApplication(ctx, cmd)
		wantField(t, err, "Idempotency-Key")
	})
	t.Run("Replayed", func(t *testing.T) {
		cmd := cmd
		cmd.Key = "new-1"
		first, err := f.app.CreateApplication(ctx, cmd)
		if err != nil || first.Replayed {
			t.Fatalf("got %+v, %v", first, err)
		}
		again, err := f.app.CreateApplication(ctx, cmd)
		if err != nil || !again.Replayed || again.ApplicationID != first.ApplicationID {
			t.Fatalf("retry: got %+v, %v; want %s replayed", again, err, first.ApplicationID)
		}
		cmd.Title = "另一个申报"
		_, err = f.app.CreateApplication(ctx, cmd)
		wantField(t, err, "Idempotency-Key")
		if n := len(f.stream(first.ApplicationID)); n != 1 {
			t.Fatalf("%d events, want the creation alone", n)
		}
	})
	t.Run("ErrBatch", func(t *testing.T) {
		cmd := cmd
		cmd.Key, cmd.BatchID = "new-2", "no-such-batch"
		_, err := f.app.CreateApplication(ctx, cmd)
		wantField(t, err, "batch_id")
	})
}

// TestRegisterExpertConcurrently registers one expert id from several
// requests at once: one is recorded, every other is told the id is taken.
func TestRegisterExpertConcurrently(t *testing.T) {
	f := newFixture(t)
	ministry := app.Request{Meta: events.Metadata{ActorID: "admin", Role: string(identity.RoleMinistry)}}
	const n = 8
	var (
		wg        sync.WaitGroup
		created   int
		conflicts int
		mu        sync.Mutex
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := ministry
			req.Key = "expert-" + strings.Repeat("x", i+1)
			_, again, err := f.app.RegisterExpert(context.Background(), app.RegisterExpert{Request: req, Expert: selection.ExpertRegistered{
				ExpertID: "e1", Name: "张三", Expertise: map[string]int{"SZJD": 2}, Province: "11", Load: 5,
			}})
			mu.Lock()
			defer mu.Unlock()
			var ce *domain.ConflictError
			switch {
			case err == nil && !again:
				created++
			case errors.As(err, &ce):
				conflicts++
			default:
				t.Errorf("got replayed %v, %v", again, err)
			}
		}()
	}
	wg.Wait()
	if created != 1 || conflicts != n-1 {
		t.Fatalf("created %d, refused %d; want 1 and %d", created, conflicts, n-1)
	}
	evs, err := f.store.ReadStream(context.Background(), selection.ExpertStream("e1"), events.ReadOptions{})
	if err != nil || len(evs) != 1 {
		t.Fatalf("expert stream: %d events, %v; want 1", len(evs), err)
	}
}
