package app

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"keytask/domain/identity"
	"keytask/domain/importrows"
	"keytask/domain/register"
	"keytask/domain/selection"
	"keytask/events"
	"keytask/eventtypes"
	"keytask/imports"
)

// UserRegistrar registers one user as POST /api/v1/users does (the API layer
// owns that use case); replayed is true when the user was already registered
// with this very record.
type UserRegistrar func(ctx context.Context, meta events.Metadata, user identity.Principal) (replayed bool, err error)

// ImportRegister imports the rows of a register's workbook.
type ImportRegister struct {
	Request
	Sheet  importrows.Sheet
	Rows   []imports.Row
	DryRun bool // check every row and say what would change; write nothing
	// RegisterUser registers a user of SheetUsers.
	RegisterUser UserRegistrar
}

// ImportReport is what an import did, or with DryRun would do.
type ImportReport struct {
	Sheet     importrows.Sheet      `json:"sheet"`
	DryRun    bool                  `json:"dry_run"`
	Rows      int                   `json:"rows"`
	Added     int                   `json:"added"`
	Updated   int                   `json:"updated"`
	Unchanged int                   `json:"unchanged"`
	Errors    []importrows.RowError `json:"errors"`
}

// importWorkers bounds the rows read and written at once: enough to overlap
// round trips to Postgres, few enough to leave the pool to other requests.
const importWorkers = 4

type importOutcome int

const (
	outcomeUnchanged importOutcome = iota
	outcomeAdded
	outcomeUpdated
)

// importRow is one valid row and what the log says of its record.
type importRow struct {
	line    int
	record  any // register.School, selection.ExpertRegistered or identity.Principal
	outcome importOutcome
}

// ImportRegister checks every row against the register's rules and the log,
// and, unless DryRun or a row is bad, records each new row as a registration
// and each changed row as an update, through the same use cases as one
// record's request. Rows already recorded as they are append nothing, so the
// same file imported twice adds nothing, and an import cut short completes
// when run again. A bad row writes nothing at all: the report lists every bad
// row as (row, column, reason). Errors: *domain.FieldError for an unknown
// sheet; otherwise only failures to read or write the log.
func (a *App) ImportRegister(ctx context.Context, cmd ImportRegister) (ImportReport, error) {
	report := ImportReport{Sheet: cmd.Sheet, DryRun: cmd.DryRun, Rows: len(cmd.Rows), Errors: []importrows.RowError{}}
	if importrows.Columns(cmd.Sheet) == nil {
		_, err := importrows.FromRow(cmd.Sheet, nil)
		return report, err
	}
	var valid []*importRow
	firstLine := map[string]int{}
	keyHeader := importrows.Header(cmd.Sheet, importrows.KeyField(cmd.Sheet))
	for _, row := range cmd.Rows {
		rec, err := importrows.FromRow(cmd.Sheet, row.Cells)
		if err != nil {
			bad, err := importrows.RowErrorOf(cmd.Sheet, row.Line, err)
			if err != nil {
				return report, err
			}
			report.Errors = append(report.Errors, bad)
			continue
		}
		key := row.Cells.Key(cmd.Sheet)
		if first, dup := firstLine[key]; dup {
			report.Errors = append(report.Errors, importrows.RowError{Row: row.Line, Column: keyHeader,
				Reason: fmt.Sprintf("与第%d行重复：同一标识在一个文件中只能出现一次", first)})
			continue
		}
		firstLine[key] = row.Line
		valid = append(valid, &importRow{line: row.Line, record: rec})
	}

	// Decide each row against its stream in the log (rule 11).
	var mu sync.Mutex
	err := eachRow(ctx, valid, func(ctx context.Context, row *importRow) error {
		outcome, rec, reason, err := a.planRow(ctx, cmd.Sheet, row.record)
		if err != nil {
			return err
		}
		row.outcome, row.record = outcome, rec
		if reason != "" {
			mu.Lock()
			report.Errors = append(report.Errors, importrows.RowError{Row: row.line, Column: keyHeader, Reason: reason})
			mu.Unlock()
		}
		return nil
	})
	if err != nil {
		return report, err
	}
	sortRowErrors(report.Errors)
	if cmd.DryRun || len(report.Errors) > 0 {
		report.count(valid)
		return report, nil
	}
	err = eachRow(ctx, valid, func(ctx context.Context, row *importRow) error {
		var err error
		row.outcome, err = a.importRow(ctx, cmd, row)
		return err
	})
	report.count(valid)
	return report, err
}

func (r *ImportReport) count(rows []*importRow) {
	r.Added, r.Updated, r.Unchanged = 0, 0, 0
	for _, row := range rows {
		switch row.outcome {
		case outcomeAdded:
			r.Added++
		case outcomeUpdated:
			r.Updated++
		default:
			r.Unchanged++
		}
	}
}

// planRow reads what the log holds of a row's record and says whether the
// import adds, updates or leaves it; reason refuses the row. The record comes
// back completed from the log where the workbook does not carry a field.
func (a *App) planRow(ctx context.Context, sheet importrows.Sheet, rec any) (importOutcome, any, string, error) {
	switch rec := rec.(type) {
	case register.School:
		current, found, err := LoadSchool(ctx, a.store, rec.Code)
		switch {
		case err != nil:
			return 0, rec, "", err
		case !found:
			return outcomeAdded, rec, "", nil
		case current == rec:
			return outcomeUnchanged, rec, "", nil
		}
		return outcomeUpdated, rec, "", nil
	case selection.ExpertRegistered:
		recorded, err := a.store.ReadStream(ctx, selection.ExpertStream(rec.ExpertID), events.ReadOptions{})
		if err != nil || len(recorded) == 0 {
			return outcomeAdded, rec, "", err
		}
		current, err := lastExpertRecord(recorded)
		if err != nil {
			return 0, rec, "", err
		}
		// The workbook does not carry the applications an expert declared a
		// conflict with, nor their former employers: keep them.
		rec.ConflictApplications, rec.FormerEmployers = current.ConflictApplications, current.FormerEmployers
		_, changed, err := selection.UpdateExpert(current, rec)
		if err != nil || !changed {
			return outcomeUnchanged, rec, "", err
		}
		return outcomeUpdated, rec, "", nil
	case identity.Principal:
		recorded, err := a.store.ReadStream(ctx, identity.UserStream(rec.UserID), events.ReadOptions{})
		if err != nil || len(recorded) == 0 {
			return outcomeAdded, rec, "", err
		}
		var evs []identity.Event
		for _, e := range recorded {
			if p, ok, err := decodeUserEvent(e); err != nil {
				return 0, rec, "", err
			} else if ok {
				evs = append(evs, p)
			}
		}
		if u := identity.Fold(evs...); u.Registered && u.Principal != rec {
			return 0, rec, "该用户ID已登记，且名称、角色或所属单位与表中不同；导入不修改已登记的用户", nil
		}
		return outcomeUnchanged, rec, "", nil
	}
	return 0, rec, "", fmt.Errorf("import %s: unexpected record %T", sheet, rec)
}

// importRow records one planned row through its use case and says what it did.
func (a *App) importRow(ctx context.Context, cmd ImportRegister, row *importRow) (importOutcome, error) {
	req := Request{Meta: cmd.Meta} // ids derive from each row's content, not a key
	switch rec := row.record.(type) {
	case register.School:
		if row.outcome == outcomeAdded {
			_, replay, err := a.RegisterSchool(ctx, RegisterSchool{Request: req, School: rec})
			return outcomeIf(!replay, outcomeAdded), err
		}
		_, changed, err := a.UpdateSchool(ctx, UpdateSchool{Request: req, School: rec})
		return outcomeIf(changed, outcomeUpdated), err
	case selection.ExpertRegistered:
		if row.outcome == outcomeAdded {
			_, replay, err := a.RegisterExpert(ctx, RegisterExpert{Request: req, Expert: rec})
			return outcomeIf(!replay, outcomeAdded), err
		}
		_, changed, err := a.UpdateExpert(ctx, UpdateExpert{Request: req, Expert: rec})
		return outcomeIf(changed, outcomeUpdated), err
	case identity.Principal:
		if row.outcome != outcomeAdded {
			return outcomeUnchanged, nil
		}
		if cmd.RegisterUser == nil {
			return 0, fmt.Errorf("import users: no user registrar")
		}
		replay, err := cmd.RegisterUser(ctx, cmd.Meta, rec)
		return outcomeIf(!replay, outcomeAdded), err
	}
	return 0, fmt.Errorf("import: unexpected record %T", row.record)
}

func outcomeIf(did bool, o importOutcome) importOutcome {
	if did {
		return o
	}
	return outcomeUnchanged
}

// eachRow runs fn over rows with importWorkers at once and returns the first
// error; the rows not yet started are then skipped.
func eachRow(ctx context.Context, rows []*importRow, fn func(context.Context, *importRow) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan *importRow)
	var wg sync.WaitGroup
	for range min(importWorkers, len(rows)) {
		wg.Go(func() {
			for row := range next {
				if err := fn(ctx, row); err != nil {
					cancel(fmt.Errorf("row %d: %w", row.line, err))
				}
			}
		})
	}
feed:
	for _, row := range rows {
		select {
		case next <- row:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := context.Cause(ctx); err != nil && ctx.Err() != nil {
		return err
	}
	return nil
}

func sortRowErrors(errs []importrows.RowError) {
	slices.SortStableFunc(errs, func(a, b importrows.RowError) int { return a.Row - b.Row })
}

func decodeUserEvent(e events.Event) (identity.Event, bool, error) {
	return events.DecodeIf[identity.Event](eventtypes.Registry, e)
}
