package notifications

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Querier is what inbox queries run on: a pool, a connection or a transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// Entry is one notice in a user's inbox.
type Entry struct {
	ID        string     `json:"id"`
	Kind      string     `json:"kind"`
	Title     string     `json:"title"`
	Body      string     `json:"body"`
	StreamID  string     `json:"stream_id"` // what the notice is about
	EventID   string     `json:"event_id"`
	CreatedAt time.Time  `json:"created_at"`
	ReadAt    *time.Time `json:"read_at"`
}

// ErrNoEntry is returned when a user's inbox holds no entry with the id.
var ErrNoEntry = errors.New("no such inbox entry")

// Inbox returns a user's newest entries (at most limit; unread ones only if
// unreadOnly) and how many entries are unread in all.
func Inbox(ctx context.Context, q Querier, userID string, unreadOnly bool, limit int) ([]Entry, int, error) {
	rows, err := q.Query(ctx, `SELECT notification_id, kind, title, body, stream_id, event_id::text, created_at, read_at
		FROM inbox WHERE user_id = $1 AND (NOT $2 OR read_at IS NULL)
		ORDER BY created_at DESC, notification_id LIMIT $3`, userID, unreadOnly, limit)
	if err != nil {
		return nil, 0, fmt.Errorf("inbox of %s: %w", userID, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Entry, error) {
		var e Entry
		err := row.Scan(&e.ID, &e.Kind, &e.Title, &e.Body, &e.StreamID, &e.EventID, &e.CreatedAt, &e.ReadAt)
		e.CreatedAt = e.CreatedAt.UTC()
		if e.ReadAt != nil {
			t := e.ReadAt.UTC()
			e.ReadAt = &t
		}
		return e, err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("inbox of %s: %w", userID, err)
	}
	rows, err = q.Query(ctx, `SELECT count(*) FROM inbox WHERE user_id = $1 AND read_at IS NULL`, userID)
	if err != nil {
		return nil, 0, fmt.Errorf("inbox of %s: %w", userID, err)
	}
	unread, err := pgx.CollectExactlyOneRow(rows, pgx.RowTo[int])
	if err != nil {
		return nil, 0, fmt.Errorf("inbox of %s: %w", userID, err)
	}
	return out, unread, nil
}

// MarkRead marks one of the user's entries read (again: a no-op); errors:
// ErrNoEntry. Another user's entry is reported as absent.
func MarkRead(ctx context.Context, q Querier, userID, id string, at time.Time) error {
	tag, err := q.Exec(ctx, `UPDATE inbox SET read_at = coalesce(read_at, $3) WHERE user_id = $1 AND notification_id = $2`, userID, id, at)
	if err != nil {
		return fmt.Errorf("mark %s read: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNoEntry
	}
	return nil
}

// MarkAllRead marks every unread entry of the user read and returns how many.
func MarkAllRead(ctx context.Context, q Querier, userID string, at time.Time) (int64, error) {
	tag, err := q.Exec(ctx, `UPDATE inbox SET read_at = $2 WHERE user_id = $1 AND read_at IS NULL`, userID, at)
	if err != nil {
		return 0, fmt.Errorf("mark inbox of %s read: %w", userID, err)
	}
	return tag.RowsAffected(), nil
}

// EmailOf returns the address the user gave for notices ("" for none), as
// far as the notifier has read.
func EmailOf(ctx context.Context, q Querier, userID string) (string, error) {
	rows, err := q.Query(ctx, `SELECT email FROM notification_emails WHERE user_id = $1`, userID)
	if err != nil {
		return "", fmt.Errorf("email of %s: %w", userID, err)
	}
	email, err := pgx.CollectExactlyOneRow(rows, pgx.RowTo[string])
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("email of %s: %w", userID, err)
	}
	return email, nil
}
