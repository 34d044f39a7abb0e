package api

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"keytask/domain"
	"keytask/domain/identity"
	"keytask/events"
)

// createAdminMeta is who a command-line bootstrap of an administrator is recorded as.
var createAdminMeta = events.Metadata{ActorID: "system", Role: "system", Organisation: identity.MinistryOrganisation, CorrelationID: "create-admin"}

// CreateAdmin makes sure the ministry administrator userID exists and has a
// password, so that a new deployment has someone who can log into the pages:
// it registers the user on the log if needed, records that a password was set,
// and stores the password's hash. A user who already has a password keeps it
// and nothing is written (changed is false), so a second run is harmless and
// never overwrites a password someone chose. The event ids derive from the
// user id, so a run that stopped half way is completed by the next. Errors:
// *domain.FieldError for a bad user id, name or password, *domain.ConflictError
// when userID belongs to a user who is not a ministry administrator.
func CreateAdmin(ctx context.Context, store *events.Store, userID, name, password string) (changed bool, err error) {
	if err := identity.ValidateUserID(userID); err != nil {
		return false, err
	}
	if err := validatePassword("password", password); err != nil {
		return false, err
	}
	stream := identity.UserStream(userID)
	recorded, err := store.ReadStream(ctx, stream, events.ReadOptions{})
	if err != nil {
		return false, err
	}
	eventID := func(typ string) uuid.UUID { return events.DeriveID("create-admin", userID, typ) }
	u := foldUser(recorded)
	switch {
	case !u.Registered:
		decided, err := identity.Register(false, identity.RegisterUser{User: identity.Principal{
			UserID: userID, Name: name, Role: identity.RoleMinistry, Organisation: identity.MinistryOrganisation}})
		if err != nil {
			return false, err
		}
		if err := appendUserEvents(ctx, store, stream, int64(len(recorded)), eventID, createAdminMeta, decided); err != nil {
			return false, err
		}
		changed = true
	case u.Role != identity.RoleMinistry:
		return false, domain.Conflict("user_id", "该用户ID已属于非部级用户", fmt.Sprintf("user %s has role %s", userID, u.Role))
	}

	var has bool
	if err := store.Pool().QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM credentials WHERE user_id = $1)`, userID).Scan(&has); err != nil {
		return false, err
	}
	if has {
		return changed, nil
	}
	h, err := hashPassword(password)
	if err != nil {
		return false, err
	}
	// The log records that a password was set before it can be used, as a reset does.
	if err := appendUserEvents(ctx, store, stream, events.AnyVersion, eventID, createAdminMeta,
		[]identity.Event{identity.PasswordSet{UserID: userID}}); err != nil {
		return false, err
	}
	tag, err := store.Pool().Exec(ctx, `INSERT INTO credentials (user_id, password_hash) VALUES ($1, $2) ON CONFLICT (user_id) DO NOTHING`, userID, h)
	if err != nil {
		return false, fmt.Errorf("set password of %s: %w", userID, err)
	}
	return changed || tag.RowsAffected() == 1, nil
}
