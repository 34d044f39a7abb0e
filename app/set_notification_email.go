package app

import (
	"context"
	"strconv"

	"keytask/domain/identity"
)

// SetNotificationEmail records where the requesting user wants notices mailed;
// an empty address stops mail.
type SetNotificationEmail struct {
	Request
	Email string
}

// SetNotificationEmail records the validated address, which takes effect once
// the notifier has read it. Errors: *domain.FieldError for "email".
func (a *App) SetNotificationEmail(ctx context.Context, cmd SetNotificationEmail) (string, error) {
	email, err := identity.ValidateEmail(cmd.Email)
	if err != nil {
		return "", err
	}
	stream := identity.SettingsStream(cmd.Meta.ActorID)
	version, err := a.store.StreamVersion(ctx, stream)
	if err != nil {
		return "", err
	}
	set := identity.EmailSet{UserID: cmd.Meta.ActorID, Email: email}
	id := EventID(cmd.Meta, cmd.Key, identity.TypeEmailSet, stream, strconv.FormatInt(version, 10), email)
	return email, a.appendOne(ctx, stream, version, id, identity.TypeEmailSet, set, cmd.Meta)
}
