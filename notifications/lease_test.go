package notifications_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"keytask/db/pgtest"
	"keytask/notifications"
)

// mailerFunc adapts a function to notifications.Mailer.
type mailerFunc func(context.Context, notifications.Mail) error

func (f mailerFunc) Send(ctx context.Context, m notifications.Mail) error { return f(ctx, m) }

// A sender leases a mail and talks to the relay with no transaction open;
// another sender skips the leased mail, and takes it over once the lease ends.
func TestSenderLeasesAMail(t *testing.T) {
	d := pgtest.New(t)
	ctx := context.Background()
	if err := pgx.BeginFunc(ctx, d.Pool, func(tx pgx.Tx) error { return notifications.Notifier{}.Setup(ctx, tx) }); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Pool.Exec(ctx, `INSERT INTO mail_outbox (mail_id, recipient, dedup_key, event_id, kind, subject, body, created_at)
		VALUES ('m1', 'liaison@gd.example', 'k1', gen_random_uuid(), 'reminder', '提醒', '请提交', now())`); err != nil {
		t.Fatal(err)
	}

	// The first sender's relay hangs until released; while it does, we look for
	// open transactions on this database.
	inSend, release := make(chan struct{}), make(chan struct{})
	var openDuringSend int
	slow := &notifications.Sender{Pool: d.Pool, Lease: 2 * time.Second, Mailer: mailerFunc(func(ctx context.Context, m notifications.Mail) error {
		if err := d.Owner.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND xact_start IS NOT NULL AND pid <> pg_backend_pid()`).Scan(&openDuringSend); err != nil {
			t.Error(err)
		}
		close(inSend)
		<-release
		return nil
	})}
	var sentBy []string
	var mu sync.Mutex
	other := &notifications.Sender{Pool: d.Pool, Mailer: mailerFunc(func(_ context.Context, m notifications.Mail) error {
		mu.Lock()
		defer mu.Unlock()
		sentBy = append(sentBy, m.ID)
		return nil
	})}

	done := make(chan error, 1)
	go func() { _, err := slow.SendDue(ctx); done <- err }()
	<-inSend
	if openDuringSend != 0 {
		t.Errorf("%d transactions open on the database while the relay answers, want none", openDuringSend)
	}
	if n, err := other.SendDue(ctx); err != nil || n != 0 {
		t.Errorf("another sender sent %d mails (%v) while the mail was leased, want 0", n, err)
	}
	time.Sleep(2500 * time.Millisecond) // the lease runs out; the first sender still hangs
	if n, err := other.SendDue(ctx); err != nil || n != 1 || len(sentBy) != 1 || sentBy[0] != "m1" {
		t.Errorf("after the lease another sender sent %d mails %v (%v), want m1", n, sentBy, err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var sent bool
	var attempts int
	d.Owner.QueryRow(ctx, `SELECT sent_at IS NOT NULL, attempts FROM mail_outbox WHERE mail_id = 'm1'`).Scan(&sent, &attempts)
	if !sent || attempts != 2 {
		t.Errorf("m1 sent %v after %d attempts, want sent after 2 (both senders)", sent, attempts)
	}
	// A sent mail is leased by nobody again.
	if n, _ := other.SendDue(ctx); n != 0 {
		t.Errorf("a sent mail was sent again")
	}
}
