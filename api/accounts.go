package api

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"keytask/app"
	"keytask/domain"
	"keytask/domain/identity"
	"keytask/events"
	"keytask/eventtypes"
)

// Registration is the outcome of RegisterUser.
type Registration struct {
	User identity.Principal
	// Replayed: an earlier identical request registered the user; nothing was appended.
	Replayed bool
}

// RegisterUser registers user, with no credential: whoever registers a user
// never holds a secret of theirs. Event ids derive from idempotencyKey (scoped
// to the actor in meta) or, without one, from the user id, so a retried request
// appends nothing twice and reports Replayed. Errors: *domain.FieldError for a
// bad field or an idempotency key reused for another request,
// *domain.ConflictError when the user id is taken.
func RegisterUser(ctx context.Context, store *events.Store, meta events.Metadata, idempotencyKey string,
	user identity.Principal) (Registration, error) {
	user = user.Normalize()
	if err := user.Validate(); err != nil {
		return Registration{}, err
	}
	eventID := func(typ string) uuid.UUID {
		if idempotencyKey != "" {
			return events.DeriveID("idempotency-key", meta.ActorID, idempotencyKey, typ)
		}
		return events.DeriveID("register", user.UserID, typ)
	}
	stream := identity.UserStream(user.UserID)
	out := Registration{User: user}

	// recordedAlready reads the stream and tells whether it holds this very
	// registration; the stream's length tells whether the id is taken.
	recordedAlready := func() (replayed bool, taken bool, err error) {
		recorded, err := store.ReadStream(ctx, stream, events.ReadOptions{})
		if err != nil {
			return false, false, err
		}
		replayed, err = isReplay(recorded, eventID(identity.TypeUserRegistered), user, idempotencyKey)
		return replayed, len(recorded) > 0, err
	}
	replayed, taken, err := recordedAlready()
	if replayed || err != nil {
		out.Replayed = replayed
		return out, err
	}
	decided, err := identity.Register(taken, identity.RegisterUser{User: user})
	if err != nil {
		return out, err
	}
	if err := appendUserEvents(ctx, store, stream, events.NoStream, eventID, meta, decided); err != nil {
		var conflict *events.ErrConflict
		switch {
		case errors.As(err, &conflict):
			// Someone registered the same id between our read and our append,
			// perhaps this very request retried.
			replayed, _, rerr := recordedAlready()
			if replayed || rerr != nil {
				out.Replayed = replayed
				return out, rerr
			}
			return out, domain.Conflict("user_id", "该用户ID已被注册", err.Error())
		case errors.Is(err, events.ErrPartialRetry):
			return out, app.KeyReused(err)
		}
		return out, err
	}
	// A request with the same ids that raced us may have appended first; then
	// the store kept its events, not ours, and this one is the replay.
	recorded, err := store.ReadStream(ctx, stream, events.ReadOptions{})
	if err != nil {
		return out, err
	}
	for _, e := range recorded {
		if e.ID == eventID(identity.TypeUserRegistered) && e.Metadata.RequestID != meta.RequestID {
			out.Replayed = true
		}
	}
	return out, nil
}

// isReplay reports whether the stream already holds this registration. The same
// ids with different content mean the key was reused for another request.
func isReplay(recorded []events.Event, registeredID uuid.UUID, user identity.Principal, idempotencyKey string) (bool, error) {
	for _, e := range recorded {
		if e.ID != registeredID {
			continue
		}
		was, err := events.DecodeAs[identity.UserRegistered](eventtypes.Registry, e)
		if err != nil {
			return false, err
		}
		if was.Principal() == user {
			return true, nil
		}
		if idempotencyKey != "" {
			return false, app.KeyReused(fmt.Errorf("key %q registered %+v, now asked for %+v", idempotencyKey, was.Principal(), user))
		}
		return false, domain.Conflict("user_id", "该用户ID已被注册", fmt.Sprintf("user %s is already registered", user.UserID))
	}
	return false, nil
}

// appendUserEvents records decided user events on stream with ids from eventID.
func appendUserEvents(ctx context.Context, store *events.Store, stream string, expected int64,
	eventID func(typ string) uuid.UUID, meta events.Metadata, decided []identity.Event) error {
	evs := make([]events.NewEvent, len(decided))
	for i, d := range decided {
		data, err := json.Marshal(d)
		if err != nil {
			return err
		}
		evs[i] = events.NewEvent{ID: eventID(d.EventType()), Type: d.EventType(), SchemaVersion: 1, Data: data, Metadata: meta}
	}
	_, err := store.Append(ctx, stream, expected, evs...)
	return err
}

// newToken returns a bearer token: 256 random bits, base64url without padding.
func newToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("new token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// The administrator that the first start creates, so someone can log in at all.
var admin = identity.Principal{UserID: identity.AdministratorID, Name: "部管理员", Role: identity.RoleMinistry, Organisation: identity.MinistryOrganisation}

// AdminTokenFile is the file in the data directory that keeps the admin's token.
const AdminTokenFile = "admin-token"

// SeedAdmin makes sure the ministry administrator "admin" exists and returns a
// live bearer token of theirs, which it keeps in dataDir/admin-token (mode 0600)
// so that every start can tell the operator how to log in. created reports
// whether this call registered the admin. It is idempotent and safe to run from
// several processes at once.
//
// When the token on file is not a live token of the admin's (the data directory
// is new, the database is new, or the token expired or was revoked), SeedAdmin
// issues a token again: the token on file if it was never issued, so an
// operator's saved token keeps working, otherwise a new one. The admin account
// therefore belongs to whoever controls the data directory.
func SeedAdmin(ctx context.Context, store *events.Store, dataDir string) (token string, created bool, err error) {
	// A concurrent starter may register the admin between our read and our
	// append; the next attempt then sees it.
	for attempt := 0; ; attempt++ {
		token, created, err = seedAdmin(ctx, store, dataDir)
		var conflict *events.ErrConflict
		if errors.As(err, &conflict) && attempt < 3 {
			continue
		}
		if err != nil {
			return "", false, fmt.Errorf("seed admin: %w", err)
		}
		return token, created, nil
	}
}

// seedMeta is who the administrator's bootstrap is recorded as.
var seedMeta = events.Metadata{ActorID: "system", Role: "system", Organisation: identity.MinistryOrganisation, CorrelationID: "seed-admin"}

func seedAdmin(ctx context.Context, store *events.Store, dataDir string) (string, bool, error) {
	path := filepath.Join(dataDir, AdminTokenFile)
	stream := identity.UserStream(admin.UserID)
	recorded, err := store.ReadStream(ctx, stream, events.ReadOptions{})
	if err != nil {
		return "", false, err
	}
	registered := foldUser(recorded).Registered
	if !registered {
		decided, err := identity.Register(false, identity.RegisterUser{User: admin})
		if err != nil {
			return "", false, err
		}
		eventID := func(typ string) uuid.UUID { return events.DeriveID("seed-admin", typ) }
		if err := appendUserEvents(ctx, store, stream, int64(len(recorded)), eventID, seedMeta, decided); err != nil {
			return "", false, err
		}
	}

	// The file is written before the token is issued: a crash between the two
	// leaves a token that the next start issues, never an issued one nobody knows.
	token, err := readToken(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if token, err = createToken(dataDir, path); err != nil {
			return "", false, err
		}
	case err != nil:
		return "", false, err
	}
	var live bool
	err = store.Pool().QueryRow(ctx, `SELECT revoked_at IS NULL AND expires_at > now() FROM bearer_tokens WHERE token_hash = $1 AND user_id = $2`,
		identity.HashToken(token), admin.UserID).Scan(&live)
	switch {
	case err == nil && live:
		return token, !registered, nil
	case err == nil:
		// Revoked on purpose by someone, or expired; never bring that token back.
		if token, err = replaceToken(dataDir, path); err != nil {
			return "", false, err
		}
	case !errors.Is(err, pgx.ErrNoRows):
		return "", false, err
	}

	hash := identity.HashToken(token)
	now := time.Now().UTC().Truncate(time.Microsecond)
	t := TokenInfo{TokenID: events.DeriveID("seed-admin", "token", hash).String(), UserID: admin.UserID, Label: firstTokenLabel,
		CreatedAt: now, ExpiresAt: now.Add(identity.DefaultTokenDays * 24 * time.Hour)}
	if err := recordIssued(ctx, store, seedMeta, t, ""); err != nil {
		return "", false, err
	}
	// Concurrent starters issue the same token under the same id: the first row stands.
	if _, err := store.Pool().Exec(ctx, `INSERT INTO bearer_tokens (token_id, user_id, token_hash, label, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (token_id) DO NOTHING`, t.TokenID, t.UserID, hash, t.Label, t.CreatedAt, t.ExpiresAt); err != nil {
		return "", false, fmt.Errorf("issue the administrator's token: %w", err)
	}
	return token, !registered, nil
}

// firstTokenLabel labels the administrator's bootstrap token.
const firstTokenLabel = "管理员初始令牌"

// foldUser folds the recorded events of a user stream.
func foldUser(recorded []events.Event) identity.User {
	var decoded []identity.Event
	for _, e := range recorded {
		if d, ok, err := events.DecodeIf[identity.Event](eventtypes.Registry, e); ok && err == nil {
			decoded = append(decoded, d)
		}
	}
	return identity.Fold(decoded...)
}

func readToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	token := strings.TrimSpace(string(b))
	if token == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return token, nil
}

// createToken returns the token in path, first writing a new one if there is none.
// A concurrent starter that put its file in place first wins.
func createToken(dir, path string) (string, error) {
	return writeToken(dir, func(tmp string) error { return os.Link(tmp, path) }, path)
}

// replaceToken writes a new token to path, replacing the one there.
func replaceToken(dir, path string) (string, error) {
	return writeToken(dir, func(tmp string) error { return os.Rename(tmp, path) }, path)
}

// writeToken writes a new token aside and moves it into place with put, so the
// file appears complete or not at all. If put finds a file already there, the
// token in it is returned instead.
func writeToken(dir string, put func(tmp string) error, path string) (string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	token, err := newToken()
	if err != nil {
		return "", err
	}
	f, err := os.CreateTemp(dir, AdminTokenFile+".*") // mode 0600
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(token + "\n"); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	if err := put(f.Name()); errors.Is(err, fs.ErrExist) {
		return readToken(path)
	} else if err != nil {
		return "", err
	}
	return token, nil
}
