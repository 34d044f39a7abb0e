package projections_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"keytask/db/pgtest"
	"keytask/domain/identity"
	"keytask/events"
	"keytask/projections"
)

func userEvent(t *testing.T, key string, e identity.Event) events.NewEvent {
	t.Helper()
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return events.NewEvent{ID: events.DeriveID("users-test", key, e.EventType()), Type: e.EventType(), SchemaVersion: 1, Data: b,
		Metadata: events.Metadata{ActorID: "admin", Role: "ministry", Organisation: "MOHRSS"}}
}

// applyAll applies every committed event to Users in one transaction, as a rebuild does.
func applyAll(t *testing.T, ctx context.Context, pool *pgxpool.Pool, store *events.Store, reset bool) string {
	t.Helper()
	evs := allCommitted(t, ctx, pool, store)
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck
	u := projections.Users{}
	if err := u.Setup(ctx, tx); err != nil {
		t.Fatal(err)
	}
	if reset {
		if err := u.Reset(ctx, tx); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range evs {
		if err := u.Apply(ctx, tx, e); err != nil {
			t.Fatal(err)
		}
	}
	digest, err := u.Digest(ctx, tx)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	return digest
}

// allCommitted returns every event of the log in commit order. ReadCommitted
// stops below the oldest transaction open anywhere on the server, and other test
// processes share this server, so it waits until they let every event through.
func allCommitted(t *testing.T, ctx context.Context, pool *pgxpool.Pool, store *events.Store) []events.Event {
	t.Helper()
	var total int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&total); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		evs, err := store.ReadCommitted(ctx, events.Order{}, total+1)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == total {
			return evs
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d events readable in commit order after 30s", len(evs), total)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestUsersProjection(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := pgtest.New(t)
	store := events.NewStore(d.Pool)
	bj := identity.Principal{UserID: "bj", Name: "北京市人社局", Role: identity.RoleProvince, Organisation: "11"}
	admin := identity.Principal{UserID: "admin", Name: "部管理员", Role: identity.RoleMinistry, Organisation: "MOHRSS"}
	register := func(p identity.Principal) {
		evs, err := identity.Register(false, identity.RegisterUser{User: p})
		if err != nil {
			t.Fatal(err)
		}
		var nes []events.NewEvent
		for _, e := range evs {
			nes = append(nes, userEvent(t, p.UserID, e))
		}
		if _, err := store.Append(ctx, identity.UserStream(p.UserID), events.NoStream, nes...); err != nil {
			t.Fatal(err)
		}
	}
	register(bj)
	register(admin)
	// An event of another stream type must be ignored.
	if _, err := store.Append(ctx, "round-1", events.NoStream, events.NewEvent{ID: events.DeriveID("users-test", "round"), Type: "RoundOpened", Data: json.RawMessage(`{}`)}); err != nil {
		t.Fatal(err)
	}
	// Token events, as recorded once with the token's hash and now without,
	// change no user.
	more := []events.NewEvent{
		userEvent(t, "bj-1", identity.TokenIssued{UserID: "bj", TokenID: "t-bj-1", TokenHash: identity.HashToken("bj-secret-1"), Label: "旧令牌"}),
		userEvent(t, "bj-2", identity.TokenIssued{UserID: "bj", TokenID: "t-bj-2", Label: "第二个", ExpiresAt: time.Now().Add(time.Hour)}),
		userEvent(t, "bj-revoke", identity.TokenRevoked{UserID: "bj", TokenID: "t-bj-1", Reason: identity.RevokedByOwner}),
	}
	if _, err := store.Append(ctx, identity.UserStream("bj"), 1, more...); err != nil {
		t.Fatal(err)
	}
	live := applyAll(t, ctx, d.Pool, store, false)

	t.Run("NoTokensInTheReadModel", func(t *testing.T) {
		var n int
		if err := d.Pool.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE tablename = 'api_tokens'`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("api_tokens tables: %d, %v", n, err)
		}
	})
	t.Run("GetUser", func(t *testing.T) {
		u, err := projections.GetUser(ctx, d.Pool, "bj")
		if err != nil || u.Principal != bj || u.RegisteredAt.IsZero() {
			t.Fatalf("get = %+v, %v", u, err)
		}
		if _, err := projections.GetUser(ctx, d.Pool, "nobody"); !errors.Is(err, projections.ErrUserNotFound) {
			t.Fatalf("missing user: err = %v", err)
		}
	})
	t.Run("ListUsers", func(t *testing.T) {
		us, err := projections.ListUsers(ctx, d.Pool)
		if err != nil || len(us) != 2 || us[0].Principal != admin || us[1].Principal != bj {
			t.Fatalf("list = %+v, %v", us, err)
		}
	})
	t.Run("RebuildIsIdentical", func(t *testing.T) {
		if rebuilt := applyAll(t, ctx, d.Pool, store, true); rebuilt != live {
			t.Fatalf("rebuilt digest %s, live %s", rebuilt, live)
		}
	})
	t.Run("DigestSeesChanges", func(t *testing.T) {
		register(identity.Principal{UserID: "tj", Name: "天津市人社局", Role: identity.RoleProvince, Organisation: "12"})
		if changed := applyAll(t, ctx, d.Pool, store, true); changed == live {
			t.Fatal("digest unchanged after a registration")
		}
	})
}
