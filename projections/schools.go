package projections

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	schoolreg "keytask/domain/register"
	"keytask/events"
	"keytask/eventtypes"
)

// Schools is the read model of the school register (技工院校名录): pages, the
// public notice and exports read a school's name here.
type Schools struct{}

// Name implements Projection.
func (Schools) Name() string { return "schools" }

// SchemaVersion implements Projection.
func (Schools) SchemaVersion() int { return 1 }

// Setup implements Projection.
func (Schools) Setup(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `
CREATE TABLE IF NOT EXISTS schools (
	code          text        PRIMARY KEY,
	name          text        NOT NULL,
	province      text        NOT NULL,
	kind          text        NOT NULL,
	registered_at timestamptz NOT NULL,
	updated_at    timestamptz NOT NULL,
	version       bigint      NOT NULL
);
CREATE INDEX IF NOT EXISTS schools_province_idx ON schools (province, code);`)
	return err
}

// Reset implements Projection.
func (Schools) Reset(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `TRUNCATE schools`)
	return err
}

// Apply implements Projection. A registration inserts the row (plainly: a
// duplicate means a bug that must surface); an update replaces its fields.
func (Schools) Apply(ctx context.Context, tx pgx.Tx, e events.Event) error {
	if e.Type != schoolreg.TypeSchoolRegistered && e.Type != schoolreg.TypeSchoolUpdated {
		return nil
	}
	payload, err := eventtypes.Registry.Decode(e)
	if err != nil {
		return err
	}
	switch p := payload.(type) {
	case schoolreg.SchoolRegistered:
		_, err = tx.Exec(ctx, `INSERT INTO schools (code, name, province, kind, registered_at, updated_at, version)
			VALUES ($1, $2, $3, $4, $5, $5, $6)`, p.Code, p.Name, p.Province, string(p.Kind), e.RecordedAt, e.StreamVersion)
	case schoolreg.SchoolUpdated:
		_, err = tx.Exec(ctx, `UPDATE schools SET name = $2, province = $3, kind = $4, updated_at = $5, version = $6 WHERE code = $1`,
			p.Code, p.Name, p.Province, string(p.Kind), e.RecordedAt, e.StreamVersion)
	}
	if err != nil {
		return fmt.Errorf("schools: apply %s %s: %w", e.Type, e.ID, err)
	}
	return nil
}

// Digest implements Projection.
func (Schools) Digest(ctx context.Context, tx pgx.Tx) (string, error) {
	d, err := digestTables(ctx, tx,
		`SELECT jsonb_build_array(code, name, province, kind, registered_at AT TIME ZONE 'UTC', updated_at AT TIME ZONE 'UTC', version)::text
			FROM schools ORDER BY code COLLATE "C"`)
	if err != nil {
		return "", fmt.Errorf("schools digest: %w", err)
	}
	return d, nil
}

// ErrSchoolNotFound is returned by GetSchool for a code the register lacks.
var ErrSchoolNotFound = errors.New("school not found")

// SchoolRecord is a school of the register as the read model holds it.
type SchoolRecord struct {
	schoolreg.School
	ProvinceName string    `json:"province_name"`
	RegisteredAt time.Time `json:"registered_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	Version      int64     `json:"version"` // the stream version of its latest record
}

const schoolColumns = `code, name, province, kind, registered_at, updated_at, version`

// ListSchools returns the register by code; with province set, only that
// province's schools.
func ListSchools(ctx context.Context, q Querier, province string) ([]SchoolRecord, error) {
	rows, err := q.Query(ctx, `SELECT `+schoolColumns+` FROM schools WHERE $1 = '' OR province = $1 ORDER BY code COLLATE "C"`, province)
	if err != nil {
		return nil, fmt.Errorf("list schools: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanSchool)
	if err != nil {
		return nil, fmt.Errorf("list schools: %w", err)
	}
	return out, nil
}

// GetSchool returns one school. Errors: ErrSchoolNotFound.
func GetSchool(ctx context.Context, q Querier, code string) (SchoolRecord, error) {
	rows, err := q.Query(ctx, `SELECT `+schoolColumns+` FROM schools WHERE code = $1`, code)
	if err != nil {
		return SchoolRecord{}, fmt.Errorf("get school %s: %w", code, err)
	}
	s, err := pgx.CollectExactlyOneRow(rows, scanSchool)
	if errors.Is(err, pgx.ErrNoRows) {
		return s, fmt.Errorf("get school %s: %w", code, ErrSchoolNotFound)
	}
	if err != nil {
		return s, fmt.Errorf("get school %s: %w", code, err)
	}
	return s, nil
}

// SchoolNames returns the registered names of the given codes; a code the
// register lacks has no entry, and the caller shows the code itself.
func SchoolNames(ctx context.Context, q Querier, codes []string) (map[string]string, error) {
	names := make(map[string]string, len(codes))
	if len(codes) == 0 {
		return names, nil
	}
	rows, err := q.Query(ctx, `SELECT code, name FROM schools WHERE code = ANY($1)`, codes)
	if err != nil {
		return nil, fmt.Errorf("school names: %w", err)
	}
	var code, name string
	if _, err := pgx.ForEachRow(rows, []any{&code, &name}, func() error {
		names[code] = name
		return nil
	}); err != nil {
		return nil, fmt.Errorf("school names: %w", err)
	}
	return names, nil
}

func scanSchool(row pgx.CollectableRow) (SchoolRecord, error) {
	var s SchoolRecord
	var kind string
	err := row.Scan(&s.Code, &s.Name, &s.Province, &kind, &s.RegisteredAt, &s.UpdatedAt, &s.Version)
	s.Kind = schoolreg.Kind(kind)
	s.ProvinceName = s.School.ProvinceName()
	s.RegisteredAt, s.UpdatedAt = s.RegisteredAt.UTC(), s.UpdatedAt.UTC()
	return s, err
}
