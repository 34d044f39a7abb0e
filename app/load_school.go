package app

import (
	"context"
	"fmt"

	"keytask/domain/register"
	"keytask/events"
	"keytask/eventtypes"
)

// LoadSchool reads a school of the register from its stream in the log, so a
// command that names a school decides against the log and not a read model
// that may trail it (DESIGN.md rule 11). found is false when no school has the
// code; the error is only a failure to read or decode the log.
func LoadSchool(ctx context.Context, store *events.Store, code string) (school register.School, found bool, err error) {
	recorded, err := store.ReadStream(ctx, register.SchoolStream(code), events.ReadOptions{})
	if err != nil {
		return school, false, fmt.Errorf("load school %s: %w", code, err)
	}
	return foldSchool(recorded)
}

func foldSchool(recorded []events.Event) (register.School, bool, error) {
	payloads := make([]any, 0, len(recorded))
	for _, e := range recorded {
		p, err := eventtypes.Registry.Decode(e)
		if err != nil {
			return register.School{}, false, err
		}
		payloads = append(payloads, p)
	}
	s, found := register.Fold(payloads...)
	return s, found, nil
}
