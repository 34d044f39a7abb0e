// Package notifications turns events into notices for people: an in-app inbox
// entry for each user concerned and, where an address is known, an e-mail.
// The Notifier consumes the event log through Watermill like a projection (its
// own consumer group, its checkpoint moved in the transaction of its writes);
// on top of that every notice has a key derived from its source event and its
// recipient, so a redelivered event, a reset checkpoint or a rebuilt log never
// gives anyone a second notice. Mail goes through an outbox that the Sender
// drains, so a crash between the commit and the send loses no mail.
package notifications

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"keytask/domain/identity"
	"keytask/domain/selection"
	"keytask/events"
	"keytask/eventtypes"
)

// Name is the notifier's consumer group and checkpoint name.
const Name = "notifications"

// Notifier is the handler that turns events into inbox entries and outbox
// mail. It implements projections.Projection so the projector's machinery
// (consumer group, checkpoint, retry, poison queue) runs it, but it is not
// one of projections.All(): its tables are a record of what was sent, not a
// read model to drop and rebuild.
type Notifier struct {
	// DependencyWait bounds how long Apply waits for the read models it takes
	// recipients from (users, liaisons, applications) to reach the event.
	// Zero means 30 seconds.
	DependencyWait time.Duration
	// MailMaxAge: an event older than this when the notifier reaches it (a
	// first start on a long log, a long outage) still gives inbox entries but
	// no mail, so nobody is mailed stale reminders. Zero means 72 hours.
	MailMaxAge time.Duration
}

// Dependencies are the projections whose read models the notifier reads
// recipients from. It waits until they have applied the event at hand, so
// that who is told does not depend on which consumer ran first.
var Dependencies = []string{"users", "intent_liaisons", "selection_applications", "selection_batches"}

// Name implements projections.Projection.
func (Notifier) Name() string { return Name }

// SchemaVersion implements projections.Projection. The notifier's tables are
// never dropped (see RebuildsInPlace), so their changes are made in place by Setup.
func (Notifier) SchemaVersion() int { return 1 }

// RebuildsInPlace implements projections.InPlace: the inbox and the outbox
// survive a rebuild, which replays the notices into them.
func (Notifier) RebuildsInPlace() {}

// Setup implements projections.Projection.
func (Notifier) Setup(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `
CREATE TABLE IF NOT EXISTS inbox (
	notification_id text        PRIMARY KEY,
	user_id         text        NOT NULL,
	dedup_key       text        NOT NULL,
	event_id        uuid        NOT NULL,
	kind            text        NOT NULL,
	title           text        NOT NULL,
	body            text        NOT NULL,
	stream_id       text        NOT NULL,
	created_at      timestamptz NOT NULL,
	read_at         timestamptz,
	UNIQUE (dedup_key, user_id)
);
CREATE INDEX IF NOT EXISTS inbox_user_idx ON inbox (user_id, created_at DESC);
CREATE TABLE IF NOT EXISTS mail_outbox (
	mail_id         text        PRIMARY KEY,
	recipient       text        NOT NULL,
	dedup_key       text        NOT NULL,
	event_id        uuid        NOT NULL,
	kind            text        NOT NULL,
	subject         text        NOT NULL,
	body            text        NOT NULL,
	created_at      timestamptz NOT NULL,
	attempts        int         NOT NULL DEFAULT 0,
	next_attempt_at timestamptz NOT NULL DEFAULT now(),
	last_error      text        NOT NULL DEFAULT '',
	sent_at         timestamptz,
	gave_up_at      timestamptz, -- the relay refused the recipient for good
	UNIQUE (dedup_key, recipient)
);
CREATE INDEX IF NOT EXISTS mail_outbox_due_idx ON mail_outbox (next_attempt_at) WHERE sent_at IS NULL AND gave_up_at IS NULL;
CREATE TABLE IF NOT EXISTS notification_emails (
	user_id text PRIMARY KEY,
	email   text NOT NULL
);
CREATE TABLE IF NOT EXISTS notification_projects (
	project_id  text PRIMARY KEY,
	application text NOT NULL,
	province    text NOT NULL
);
CREATE TABLE IF NOT EXISTS notification_reports (
	stream_id  text PRIMARY KEY,
	year       int  NOT NULL,
	project_id text NOT NULL,
	school     text NOT NULL,
	province   text NOT NULL
);`)
	return err
}

// Reset implements projections.Projection. It forgets only the project and
// report lookups; the inbox and the outbox are a record of what people were
// told and survive a replay, which their keys make harmless.
func (Notifier) Reset(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `TRUNCATE notification_emails, notification_projects, notification_reports`)
	return err
}

// Digest implements projections.Projection over the notices' keys.
func (Notifier) Digest(ctx context.Context, tx pgx.Tx) (string, error) {
	h := sha256.New()
	for _, q := range []string{
		`SELECT notification_id FROM inbox ORDER BY notification_id COLLATE "C"`,
		`SELECT mail_id FROM mail_outbox ORDER BY mail_id COLLATE "C"`,
	} {
		rows, err := tx.Query(ctx, q)
		if err != nil {
			return "", err
		}
		var id string
		if _, err := pgx.ForEachRow(rows, []any{&id}, func() error {
			h.Write([]byte(id))
			h.Write([]byte{0})
			return nil
		}); err != nil {
			return "", err
		}
		h.Write([]byte{1})
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Recipients of a notice.
type audience struct {
	roles     []roleOrg // users of these roles and organisations get an inbox entry
	users     []string  // and these users by id
	liaisonOf string    // this province's liaison gets a mail
}

type roleOrg struct {
	role identity.Role
	org  string
}

// notice is what one event says to its audience.
type notice struct {
	kind  string
	title string
	body  string
	// dedup is the source's identity: the event id, or for reminders the
	// reminder's own key (round or report, offset), so that one reminder is
	// one notice even if it were appended twice under different ids.
	dedup string
	to    audience
}

// Apply implements projections.Projection.
func (n Notifier) Apply(ctx context.Context, tx pgx.Tx, e events.Event) error {
	if !told[e.Type] && !kept[e.Type] {
		return nil
	}
	payload, err := eventtypes.Registry.Decode(e)
	if err != nil {
		return fmt.Errorf("notifications: %w", err)
	}
	if err := keep(ctx, tx, e, payload); err != nil {
		return fmt.Errorf("notifications: %s %s: %w", e.Type, e.ID, err)
	}
	if !told[e.Type] {
		return nil
	}
	if err := n.awaitDependencies(ctx, tx, e.Order); err != nil {
		return err
	}
	var notices []notice
	if strings.HasPrefix(e.StreamID, selection.SelectionBatchStream("")) {
		f, err := lookupSelection(ctx, tx, e, payload)
		if err != nil {
			return fmt.Errorf("notifications: %s %s: %w", e.Type, e.ID, err)
		}
		notices, _ = renderSelection(e.ID.String(), strings.TrimPrefix(e.StreamID, selection.SelectionBatchStream("")), payload, f)
	} else {
		f, err := lookup(ctx, tx, e, payload)
		if err != nil {
			return fmt.Errorf("notifications: %s %s: %w", e.Type, e.ID, err)
		}
		if nt, ok := render(e.ID.String(), payload, f); ok {
			notices = append(notices, nt)
		}
	}
	for _, nt := range notices {
		if err := n.deliver(ctx, tx, e, nt); err != nil {
			return err
		}
	}
	return nil
}

// deliver puts one notice in its recipients' inboxes and, where they gave
// an address, in the mail outbox; both keyed so that it is delivered once.
func (n Notifier) deliver(ctx context.Context, tx pgx.Tx, e events.Event, nt notice) error {
	users, err := usersOf(ctx, tx, nt.to.roles, e.RecordedAt)
	if err != nil {
		return err
	}
	for _, u := range nt.to.users {
		var ok bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE user_id = $1 AND registered_at <= $2)`, u, e.RecordedAt).Scan(&ok); err != nil {
			return fmt.Errorf("notifications: user %s: %w", u, err)
		}
		if ok && !slices.Contains(users, u) {
			users = append(users, u)
		}
	}
	for _, u := range users {
		id := Key(nt.dedup, "user", u)
		if _, err := tx.Exec(ctx, `INSERT INTO inbox (notification_id, user_id, dedup_key, event_id, kind, title, body, stream_id, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING`,
			id, u, nt.dedup, e.ID, nt.kind, nt.title, nt.body, e.StreamID, e.RecordedAt); err != nil {
			return fmt.Errorf("notifications: inbox of %s: %w", u, err)
		}
	}
	maxAge := n.MailMaxAge
	if maxAge <= 0 {
		maxAge = 72 * time.Hour
	}
	if time.Since(e.RecordedAt) > maxAge {
		return nil
	}
	addMail := func(addr, name string) error {
		addr = strings.ToLower(strings.TrimSpace(addr))
		if addr == "" {
			return nil
		}
		body := name + "：\n\n" + nt.body + "\n\n（本邮件由全国技工教育重点任务管理平台自动发送，请勿直接回复。）\n"
		if _, err := tx.Exec(ctx, `INSERT INTO mail_outbox (mail_id, recipient, dedup_key, event_id, kind, subject, body, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING`,
			Key(nt.dedup, "mail", addr), addr, nt.dedup, e.ID, nt.kind, nt.title, body, e.RecordedAt); err != nil {
			return fmt.Errorf("notifications: mail to %s: %w", addr, err)
		}
		return nil
	}
	// Users who gave an address get the notice by mail too.
	rows, err := tx.Query(ctx, `SELECT m.email, u.name FROM notification_emails m JOIN users u USING (user_id)
		WHERE m.user_id = ANY($1) ORDER BY m.user_id COLLATE "C"`, users)
	if err != nil {
		return fmt.Errorf("notifications: addresses: %w", err)
	}
	type addressee struct{ addr, name string }
	to, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (addressee, error) {
		var a addressee
		return a, row.Scan(&a.addr, &a.name)
	})
	if err != nil {
		return fmt.Errorf("notifications: addresses: %w", err)
	}
	if nt.to.liaisonOf != "" {
		var email, name string
		err := tx.QueryRow(ctx, `SELECT email, name FROM liaisons WHERE province = $1`, nt.to.liaisonOf).Scan(&email, &name)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			// No liaison registered: the province's users still have the inbox entry.
		case err != nil:
			return fmt.Errorf("notifications: liaison of %s: %w", nt.to.liaisonOf, err)
		default:
			to = append(to, addressee{email, name + "同志"})
		}
	}
	for _, a := range to {
		if err := addMail(a.addr, a.name); err != nil {
			return err
		}
	}
	return nil
}

// Key is the id of the notice from source dedup to one recipient: the same
// source and recipient always give the same key.
func Key(dedup, channel, recipient string) string {
	return events.DeriveID("notification", dedup, channel, recipient).String()
}

// awaitDependencies waits until every dependency's checkpoint has reached o.
// It polls inside tx: under read committed each statement sees the latest
// commits.
func (n Notifier) awaitDependencies(ctx context.Context, tx pgx.Tx, o events.Order) error {
	wait := n.DependencyWait
	if wait <= 0 {
		wait = 30 * time.Second
	}
	deadline := time.Now().Add(wait)
	for {
		var behind []string
		rows, err := tx.Query(ctx, `SELECT d.name FROM unnest($1::text[]) AS d(name)
			LEFT JOIN projection_checkpoints c ON c.name = d.name
			WHERE c.name IS NULL OR (c.tx_id, c.seq) < ($2::text::xid8, $3)`,
			Dependencies, strconv.FormatUint(o.TxID, 10), o.Seq)
		if err != nil {
			return fmt.Errorf("notifications: read dependencies' checkpoints: %w", err)
		}
		if behind, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return fmt.Errorf("notifications: read dependencies' checkpoints: %w", err)
		}
		if len(behind) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("notifications: read models %v have not reached the event after %s", behind, wait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// usersOf returns the ids of the users of the given roles and organisations
// that were registered when the event was recorded: the recipients do not
// change when the event is applied again later.
func usersOf(ctx context.Context, tx pgx.Tx, ros []roleOrg, at time.Time) ([]string, error) {
	var out []string
	for _, ro := range ros {
		if ro.org == "" {
			continue
		}
		rows, err := tx.Query(ctx, `SELECT user_id FROM users WHERE role = $1 AND organisation = $2 AND registered_at <= $3
			ORDER BY user_id COLLATE "C"`, string(ro.role), ro.org, at)
		if err != nil {
			return nil, fmt.Errorf("notifications: users of %s %s: %w", ro.role, ro.org, err)
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return nil, fmt.Errorf("notifications: users of %s %s: %w", ro.role, ro.org, err)
		}
		out = append(out, ids...)
	}
	return out, nil
}
