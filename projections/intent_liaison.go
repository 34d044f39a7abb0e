package projections

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"keytask/domain/identity"
	"keytask/domain/intent"
	"keytask/events"
)

// IntentLiaisons is the read model of the provinces' liaisons (联络员) and the
// ministry's deadline for registering them.
type IntentLiaisons struct{}

// Name implements Projection.
func (IntentLiaisons) Name() string { return "intent_liaisons" }

// SchemaVersion implements Projection.
func (IntentLiaisons) SchemaVersion() int { return 1 }

// Setup implements Projection.
func (IntentLiaisons) Setup(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `
CREATE TABLE IF NOT EXISTS liaisons (
	province      text        PRIMARY KEY,
	name          text        NOT NULL,
	phone         text        NOT NULL,
	email         text        NOT NULL,
	registered_at timestamptz NOT NULL,
	registered_by text        NOT NULL,
	first_at      timestamptz NOT NULL,
	registrations int         NOT NULL
);
CREATE TABLE IF NOT EXISTS liaison_deadline (
	singleton bool        PRIMARY KEY DEFAULT true CHECK (singleton),
	deadline  timestamptz NOT NULL,
	set_at    timestamptz NOT NULL,
	set_by    text        NOT NULL
);`)
	return err
}

// Reset implements Projection.
func (IntentLiaisons) Reset(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `TRUNCATE liaisons, liaison_deadline`)
	return err
}

// Apply implements Projection. A later registration replaces the earlier one
// (the domain's rule), so registration is an upsert that counts replacements.
func (IntentLiaisons) Apply(ctx context.Context, tx pgx.Tx, e events.Event) error {
	var err error
	switch e.Type {
	case intent.TypeLiaisonRegistered:
		var p intent.LiaisonRegistered
		if p, err = decodePayload[intent.LiaisonRegistered](e); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO liaisons (province, name, phone, email, registered_at, registered_by, first_at, registrations)
			VALUES ($1, $2, $3, $4, $5, $6, $5, 1)
			ON CONFLICT (province) DO UPDATE SET name = excluded.name, phone = excluded.phone, email = excluded.email,
				registered_at = excluded.registered_at, registered_by = excluded.registered_by,
				registrations = liaisons.registrations + 1`,
			p.Province, p.Name, p.Phone, p.Email, e.RecordedAt, e.Metadata.ActorID)
	case intent.TypeLiaisonDeadlineSet:
		var p intent.LiaisonDeadlineSet
		if p, err = decodePayload[intent.LiaisonDeadlineSet](e); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO liaison_deadline (deadline, set_at, set_by) VALUES ($1, $2, $3)
			ON CONFLICT (singleton) DO UPDATE SET deadline = excluded.deadline, set_at = excluded.set_at, set_by = excluded.set_by`,
			p.Deadline, e.RecordedAt, e.Metadata.ActorID)
	default:
		return nil
	}
	if err != nil {
		return fmt.Errorf("intent_liaisons: apply %s %s: %w", e.Type, e.ID, err)
	}
	return nil
}

// Digest implements Projection.
func (IntentLiaisons) Digest(ctx context.Context, tx pgx.Tx) (string, error) {
	d, err := digestTables(ctx, tx,
		`SELECT jsonb_build_array(province, name, phone, email, registered_at AT TIME ZONE 'UTC', registered_by,
				first_at AT TIME ZONE 'UTC', registrations)::text
			FROM liaisons ORDER BY province COLLATE "C"`,
		`SELECT jsonb_build_array(deadline AT TIME ZONE 'UTC', set_at AT TIME ZONE 'UTC', set_by)::text FROM liaison_deadline`)
	if err != nil {
		return "", fmt.Errorf("intent_liaisons digest: %w", err)
	}
	return d, nil
}

// Liaison is a province's current liaison.
type Liaison struct {
	Province      string
	ProvinceName  string
	Name          string
	Phone         string
	Email         string
	RegisteredAt  time.Time // of the current registration
	FirstAt       time.Time // of the province's first registration
	Registrations int
	// Late: the province first registered after the liaison deadline. Replacing
	// a liaison on time later does not make a province late.
	Late bool
}

// Province is a provincial-level unit.
type Province struct {
	Code string
	Name string
}

// LiaisonOverview is every province's liaison against the deadline.
type LiaisonOverview struct {
	Deadline *time.Time // nil until the ministry sets one
	Liaisons []Liaison  // by province code
	Missing  []Province // provinces of identity.Provinces without a liaison, by code
}

// Liaisons returns the liaisons of every province and who is missing.
func Liaisons(ctx context.Context, q Querier) (LiaisonOverview, error) {
	var out LiaisonOverview
	rows, err := q.Query(ctx, `SELECT deadline FROM liaison_deadline`)
	if err != nil {
		return out, fmt.Errorf("liaison deadline: %w", err)
	}
	d, err := pgx.CollectExactlyOneRow(rows, pgx.RowTo[time.Time])
	switch {
	case err == nil:
		d = d.UTC()
		out.Deadline = &d
	case !errors.Is(err, pgx.ErrNoRows):
		return out, fmt.Errorf("liaison deadline: %w", err)
	}
	rows, err = q.Query(ctx, `SELECT province, name, phone, email, registered_at, first_at, registrations
		FROM liaisons ORDER BY province COLLATE "C"`)
	if err != nil {
		return out, fmt.Errorf("list liaisons: %w", err)
	}
	out.Liaisons, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (Liaison, error) {
		var l Liaison
		err := row.Scan(&l.Province, &l.Name, &l.Phone, &l.Email, &l.RegisteredAt, &l.FirstAt, &l.Registrations)
		l.RegisteredAt, l.FirstAt = l.RegisteredAt.UTC(), l.FirstAt.UTC()
		l.ProvinceName = identity.Provinces[l.Province]
		l.Late = out.Deadline != nil && l.FirstAt.After(*out.Deadline)
		return l, err
	})
	if err != nil {
		return out, fmt.Errorf("list liaisons: %w", err)
	}
	has := map[string]bool{}
	for _, l := range out.Liaisons {
		has[l.Province] = true
	}
	out.Missing = []Province{}
	for _, code := range slices.Sorted(maps.Keys(identity.Provinces)) {
		if !has[code] {
			out.Missing = append(out.Missing, Province{Code: code, Name: identity.Provinces[code]})
		}
	}
	return out, nil
}
