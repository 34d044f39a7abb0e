package projections

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"keytask/domain/identity"
	"keytask/events"
	"keytask/eventtypes"
)

// Users is the read model of user accounts. Every authenticated request reads
// its user's name, role and organisation here. Bearer tokens are not a read
// model: they live in the bearer_tokens table, where a revocation takes effect
// at once.
type Users struct{}

// Name implements Projection.
func (Users) Name() string { return "users" }

// SchemaVersion implements Projection.
func (Users) SchemaVersion() int { return 1 }

// Setup implements Projection.
func (Users) Setup(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `
CREATE TABLE IF NOT EXISTS users (
	user_id       text        PRIMARY KEY,
	name          text        NOT NULL,
	role          text        NOT NULL,
	organisation  text        NOT NULL,
	registered_at timestamptz NOT NULL
);
-- Tokens were once projected here from the log; none of those is accepted now.
DROP TABLE IF EXISTS api_tokens;`)
	return err
}

// Reset implements Projection.
func (Users) Reset(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `TRUNCATE users`)
	return err
}

// Apply implements Projection. Inserts are plain, not upserts: the checkpoint
// applies each event once, so a duplicate means a bug that must surface.
func (Users) Apply(ctx context.Context, tx pgx.Tx, e events.Event) error {
	payload, ok, err := events.DecodeIf[identity.Event](eventtypes.Registry, e)
	if !ok || err != nil {
		return err
	}
	switch p := payload.(type) {
	case identity.UserRegistered:
		_, err = tx.Exec(ctx, `INSERT INTO users (user_id, name, role, organisation, registered_at) VALUES ($1, $2, $3, $4, $5)`,
			p.UserID, p.Name, string(p.Role), p.Organisation, e.RecordedAt)
	}
	if err != nil {
		return fmt.Errorf("users: apply %s %s: %w", e.Type, e.ID, err)
	}
	return nil
}

// Digest implements Projection: SHA-256 over every row in key
// order, ids compared byte by byte so the collation does not matter.
func (Users) Digest(ctx context.Context, tx pgx.Tx) (string, error) {
	h := sha256.New()
	var b []byte
	write := func(strs []string, times ...*time.Time) {
		b = b[:0]
		for _, s := range strs {
			b = appendString(b, s)
		}
		for _, t := range times {
			if t == nil {
				b = append(b, 0)
				continue
			}
			b = append(b, 1)
			b = binary.BigEndian.AppendUint64(b, uint64(t.UnixMicro()))
		}
		h.Write(b)
	}

	write([]string{"users"})
	rows, err := tx.Query(ctx, `SELECT user_id, name, role, organisation, registered_at FROM users ORDER BY user_id COLLATE "C"`)
	if err != nil {
		return "", fmt.Errorf("users digest: %w", err)
	}
	var id, name, role, org string
	var at time.Time
	if _, err := pgx.ForEachRow(rows, []any{&id, &name, &role, &org, &at}, func() error {
		write([]string{id, name, role, org}, &at)
		return nil
	}); err != nil {
		return "", fmt.Errorf("users digest: %w", err)
	}

	return hex.EncodeToString(h.Sum(nil)), nil
}

// ErrUserNotFound is returned by GetUser for a user the read model does not hold.
var ErrUserNotFound = errors.New("user not found")

// UserRecord is a registered user as the read model holds it.
type UserRecord struct {
	identity.Principal
	RegisteredAt time.Time
}

// GetUser returns one user. Errors: ErrUserNotFound.
func GetUser(ctx context.Context, q Querier, userID string) (UserRecord, error) {
	rows, err := q.Query(ctx, `SELECT user_id, name, role, organisation, registered_at FROM users WHERE user_id = $1`, userID)
	if err != nil {
		return UserRecord{}, fmt.Errorf("get user %s: %w", userID, err)
	}
	u, err := pgx.CollectExactlyOneRow(rows, scanUserRecord)
	if errors.Is(err, pgx.ErrNoRows) {
		return u, fmt.Errorf("get user %s: %w", userID, ErrUserNotFound)
	}
	if err != nil {
		return u, fmt.Errorf("get user %s: %w", userID, err)
	}
	return u, nil
}

// ListUsers returns every user, ordered by user id.
func ListUsers(ctx context.Context, q Querier) ([]UserRecord, error) {
	rows, err := q.Query(ctx, `SELECT user_id, name, role, organisation, registered_at FROM users ORDER BY user_id COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	us, err := pgx.CollectRows(rows, scanUserRecord)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return us, nil
}

func scanUserRecord(row pgx.CollectableRow) (UserRecord, error) {
	var u UserRecord
	err := row.Scan(&u.UserID, &u.Name, &u.Role, &u.Organisation, &u.RegisteredAt)
	u.RegisteredAt = u.RegisteredAt.UTC()
	return u, err
}
