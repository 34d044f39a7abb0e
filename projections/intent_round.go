package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"keytask/domain/identity"
	"keytask/domain/intent"
	"keytask/events"
)

// IntentRounds is the read model of the intent rounds: each round's state
// (deadline, stage, extensions, reminders), each province's form as it stands
// and as it was at every save, submission and return, the ministry's feedback,
// and the national summary per task item.
//
// The summary counts, for each province, its latest SUBMITTED form: a form
// counts from its submission until the ministry returns it, and again once it
// is resubmitted. Drafts never count. The summary rows of a round are computed
// again from the forms whenever a form's status changes, in the same
// transaction, so they can never drift from the forms they sum.
type IntentRounds struct{}

// Name implements Projection.
func (IntentRounds) Name() string { return "intent_rounds" }

// SchemaVersion implements Projection.
// Version 2 adds the 实施单位 (intent_form_units), the 厅函 (intent_letters)
// and whether a round was filed early.
func (IntentRounds) SchemaVersion() int { return 2 }

// Money is kept as bigint yuan throughout (DESIGN.md rule 5).
const fundColumns = `school, industry, sponsor, municipal, provincial`

// Setup implements Projection.
func (IntentRounds) Setup(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `
CREATE TABLE IF NOT EXISTS intent_rounds (
	round_id         text        PRIMARY KEY,
	batch_id         text        NOT NULL,
	deadline         timestamptz NOT NULL,
	reminder_offsets bigint[]    NOT NULL, -- nanoseconds before the deadline
	stage            text        NOT NULL, -- open, closed, filed
	opened_at        timestamptz NOT NULL,
	opened_by        text        NOT NULL,
	closed_at        timestamptz,
	filed_at         timestamptz,
	filed_by         text        NOT NULL DEFAULT '',
	filed_early      boolean     NOT NULL DEFAULT false -- before the deadline, every province having submitted
);
CREATE TABLE IF NOT EXISTS intent_round_items (
	round_id text   NOT NULL,
	position int    NOT NULL,
	item     text   NOT NULL,
	code     text   NOT NULL,
	name     text   NOT NULL,
	target   bigint NOT NULL,
	unit     text   NOT NULL,
	kind     text   NOT NULL,
	PRIMARY KEY (round_id, position),
	UNIQUE (round_id, item)
);
CREATE TABLE IF NOT EXISTS intent_round_provinces (
	round_id    text NOT NULL,
	province    text NOT NULL,
	extension   timestamptz,
	extended_at timestamptz,
	extended_by text NOT NULL DEFAULT '',
	PRIMARY KEY (round_id, province)
);
CREATE TABLE IF NOT EXISTS intent_round_reminders (
	round_id  text        NOT NULL,
	province  text        NOT NULL,
	offset_ns bigint      NOT NULL,
	sent_at   timestamptz NOT NULL,
	event_id  uuid        NOT NULL,
	PRIMARY KEY (round_id, event_id)
);
CREATE TABLE IF NOT EXISTS intent_forms (
	round_id      text        NOT NULL,
	province      text        NOT NULL,
	status        text        NOT NULL, -- draft, submitted, returned
	late          boolean     NOT NULL,
	return_reason text        NOT NULL,
	returned_at   timestamptz,
	stream_id     text        NOT NULL, -- of the event that last changed the form
	version       bigint      NOT NULL, -- that event's stream version
	changed_at    timestamptz NOT NULL,
	changed_by    text        NOT NULL,
	submitted_at  timestamptz,
	form          jsonb       NOT NULL, -- the intent.Form as last saved or submitted
	school        bigint      NOT NULL,
	industry      bigint      NOT NULL,
	sponsor       bigint      NOT NULL,
	municipal     bigint      NOT NULL,
	provincial    bigint      NOT NULL,
	total         bigint      NOT NULL,
	PRIMARY KEY (round_id, province)
);
CREATE TABLE IF NOT EXISTS intent_form_lines (
	round_id   text    NOT NULL,
	province   text    NOT NULL,
	item       text    NOT NULL,
	undertake  boolean NOT NULL,
	quantity   bigint  NOT NULL,
	school     bigint  NOT NULL,
	industry   bigint  NOT NULL,
	sponsor    bigint  NOT NULL,
	municipal  bigint  NOT NULL,
	provincial bigint  NOT NULL,
	total      bigint  NOT NULL,
	PRIMARY KEY (round_id, province, item)
);
-- The 实施单位 of each row of a province's form as it stands (the latest save
-- or submission): the schools that carry the task. Join intent_forms on
-- status = 'submitted' for the filed intent, as intent_summary does.
CREATE TABLE IF NOT EXISTS intent_form_units (
	round_id    text NOT NULL,
	province    text NOT NULL,
	item        text NOT NULL,
	position    int  NOT NULL, -- the order the province listed them in
	school_code text NOT NULL,
	school_name text NOT NULL, -- as the register named it when the form was saved
	PRIMARY KEY (round_id, province, item, school_code)
);
CREATE INDEX IF NOT EXISTS intent_form_units_school ON intent_form_units (school_code);
-- The 厅函 that sends each province's form, and its arrival at the ministry.
CREATE TABLE IF NOT EXISTS intent_letters (
	round_id    text        NOT NULL,
	province    text        NOT NULL,
	letter_no   text        NOT NULL,
	letter_date text        NOT NULL, -- YYYY-MM-DD, as on the letter
	file_name   text        NOT NULL,
	media_type  text        NOT NULL,
	size        bigint      NOT NULL,
	sha256      text        NOT NULL, -- the scan in the attachments store
	recorded_at timestamptz NOT NULL,
	recorded_by text        NOT NULL,
	arrived_at  timestamptz,
	arrived_by  text        NOT NULL DEFAULT '',
	PRIMARY KEY (round_id, province)
);
CREATE TABLE IF NOT EXISTS intent_form_history (
	round_id       text        NOT NULL,
	province       text        NOT NULL,
	seq            int         NOT NULL, -- 1, 2, … per form, in log order
	action         text        NOT NULL, -- save, submit, return
	status         text        NOT NULL, -- the form's status after the action
	late           boolean     NOT NULL,
	reason         text        NOT NULL,
	recorded_at    timestamptz NOT NULL,
	actor_id       text        NOT NULL,
	role           text        NOT NULL,
	event_id       uuid        NOT NULL,
	stream_id      text        NOT NULL,
	stream_version bigint      NOT NULL,
	form           jsonb       NOT NULL, -- the form as it was after the action
	PRIMARY KEY (round_id, province, seq)
);
CREATE TABLE IF NOT EXISTS intent_feedback (
	round_id    text        NOT NULL,
	province    text        NOT NULL,
	seq         int         NOT NULL,
	text        text        NOT NULL,
	recorded_at timestamptz NOT NULL,
	actor_id    text        NOT NULL,
	PRIMARY KEY (round_id, province, seq)
);
CREATE TABLE IF NOT EXISTS intent_summary (
	round_id   text   NOT NULL,
	position   int    NOT NULL,
	item       text   NOT NULL,
	provinces  int    NOT NULL, -- provinces whose submitted form undertakes the item
	quantity   bigint NOT NULL, -- 承接数量 over those forms
	target     bigint NOT NULL, -- the national target; coverage = quantity / target
	school     bigint NOT NULL,
	industry   bigint NOT NULL,
	sponsor    bigint NOT NULL,
	municipal  bigint NOT NULL,
	provincial bigint NOT NULL,
	total      bigint NOT NULL,
	PRIMARY KEY (round_id, position)
);`)
	return err
}

// Reset implements Projection.
func (IntentRounds) Reset(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `TRUNCATE intent_rounds, intent_round_items, intent_round_provinces, intent_round_reminders,
		intent_forms, intent_form_lines, intent_form_units, intent_letters, intent_form_history, intent_feedback, intent_summary`)
	return err
}

// Apply implements Projection. It reads the round and province from each
// payload rather than from the stream name, so it does not depend on which
// stream the workflow appends an event to.
func (p IntentRounds) Apply(ctx context.Context, tx pgx.Tx, e events.Event) error {
	var err error
	switch e.Type {
	case intent.TypeIntentRoundOpened:
		err = applyPayload(e, func(v intent.IntentRoundOpened) error { return roundOpened(ctx, tx, e, v) })
	case intent.TypeProvinceDeadlineExtended:
		err = applyPayload(e, func(v intent.ProvinceDeadlineExtended) error {
			_, err := tx.Exec(ctx, `INSERT INTO intent_round_provinces (round_id, province, extension, extended_at, extended_by)
				VALUES ($1, $2, $3, $4, $5)
				ON CONFLICT (round_id, province) DO UPDATE SET extension = excluded.extension,
					extended_at = excluded.extended_at, extended_by = excluded.extended_by`,
				v.RoundID, v.Province, v.Deadline, e.RecordedAt, e.Metadata.ActorID)
			return err
		})
	case intent.TypeIntentReminderSent:
		err = applyPayload(e, func(v intent.IntentReminderSent) error {
			_, err := tx.Exec(ctx, `INSERT INTO intent_round_reminders (round_id, province, offset_ns, sent_at, event_id)
				VALUES ($1, $2, $3, $4, $5)`, v.RoundID, v.Province, int64(v.Offset), e.RecordedAt, e.ID)
			return err
		})
	case intent.TypeIntentRoundClosed:
		err = applyPayload(e, func(v intent.IntentRoundClosed) error {
			_, err := tx.Exec(ctx, `UPDATE intent_rounds SET stage = $2, closed_at = $3 WHERE round_id = $1`,
				v.RoundID, string(intent.StageClosed), e.RecordedAt)
			return err
		})
	case intent.TypeIntentRoundFiled:
		err = applyPayload(e, func(v intent.IntentRoundFiled) error {
			_, err := tx.Exec(ctx, `UPDATE intent_rounds SET stage = $2, filed_at = $3, filed_by = $4, filed_early = $5 WHERE round_id = $1`,
				v.RoundID, string(intent.StageFiled), e.RecordedAt, e.Metadata.ActorID, v.Early)
			return err
		})
	case intent.TypeIntentLetterRecorded:
		err = applyPayload(e, func(v intent.IntentLetterRecorded) error {
			// A new letter replaces the one before, which had not arrived.
			_, err := tx.Exec(ctx, `INSERT INTO intent_letters (round_id, province, letter_no, letter_date, file_name, media_type,
					size, sha256, recorded_at, recorded_by)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
				ON CONFLICT (round_id, province) DO UPDATE SET letter_no = excluded.letter_no, letter_date = excluded.letter_date,
					file_name = excluded.file_name, media_type = excluded.media_type, size = excluded.size, sha256 = excluded.sha256,
					recorded_at = excluded.recorded_at, recorded_by = excluded.recorded_by, arrived_at = NULL, arrived_by = ''`,
				v.RoundID, v.Province, v.LetterNo, v.Date, v.Scan.Name, v.Scan.MediaType, v.Scan.Size, v.Scan.SHA256,
				e.RecordedAt, e.Metadata.ActorID)
			return err
		})
	case intent.TypeIntentLetterArrived:
		err = applyPayload(e, func(v intent.IntentLetterArrived) error {
			tag, err := tx.Exec(ctx, `UPDATE intent_letters SET arrived_at = $3, arrived_by = $4 WHERE round_id = $1 AND province = $2`,
				v.RoundID, v.Province, e.RecordedAt, e.Metadata.ActorID)
			if err == nil && tag.RowsAffected() != 1 {
				err = fmt.Errorf("%s of round %s has no letter to mark arrived", v.Province, v.RoundID)
			}
			return err
		})
	case intent.TypeIntentDraftSaved:
		err = applyPayload(e, func(v intent.IntentDraftSaved) error {
			return formChanged(ctx, tx, e, v.RoundID, v.Province, "save", intent.StatusDraft, false, &v.Form, "")
		})
	case intent.TypeIntentSubmitted:
		err = applyPayload(e, func(v intent.IntentSubmitted) error {
			return formChanged(ctx, tx, e, v.RoundID, v.Province, "submit", intent.StatusSubmitted, v.Late, &v.Form, "")
		})
	case intent.TypeIntentReturned:
		err = applyPayload(e, func(v intent.IntentReturned) error {
			return formChanged(ctx, tx, e, v.RoundID, v.Province, "return", intent.StatusReturned, false, nil, v.Reason)
		})
	case intent.TypeIntentFeedbackRecorded:
		err = applyPayload(e, func(v intent.IntentFeedbackRecorded) error {
			_, err := tx.Exec(ctx, `INSERT INTO intent_feedback (round_id, province, seq, text, recorded_at, actor_id)
				SELECT $1, $2, coalesce(max(seq), 0) + 1, $3, $4, $5 FROM intent_feedback WHERE round_id = $1 AND province = $2`,
				v.RoundID, v.Province, v.Text, e.RecordedAt, e.Metadata.ActorID)
			return err
		})
	default:
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: apply %s %s: %w", p.Name(), e.Type, e.ID, err)
	}
	return nil
}

func applyPayload[T any](e events.Event, f func(T) error) error {
	v, err := decodePayload[T](e)
	if err != nil {
		return err
	}
	return f(v)
}

func roundOpened(ctx context.Context, tx pgx.Tx, e events.Event, v intent.IntentRoundOpened) error {
	offsets := make([]int64, len(v.ReminderOffsets))
	for i, d := range v.ReminderOffsets {
		offsets[i] = int64(d)
	}
	provinces := v.Provinces
	if len(provinces) == 0 {
		// A round that names no provinces expects every one (intent.OpenRound).
		provinces = slices.Sorted(maps.Keys(identity.Provinces))
	}
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO intent_rounds (round_id, batch_id, deadline, reminder_offsets, stage, opened_at, opened_by)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		v.RoundID, v.BatchID, v.Deadline, offsets, string(intent.StageOpen), e.RecordedAt, e.Metadata.ActorID)
	for i, it := range v.Items {
		b.Queue(`INSERT INTO intent_round_items (round_id, position, item, code, name, target, unit, kind)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, v.RoundID, i, it.Item, it.Code, it.Name, it.Target, it.Unit, string(it.Kind))
	}
	for _, code := range provinces {
		b.Queue(`INSERT INTO intent_round_provinces (round_id, province) VALUES ($1, $2)`, v.RoundID, code)
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return err
	}
	return refreshSummary(ctx, tx, v.RoundID)
}

// formChanged records a save, submission or return of a province's form: the
// current state, a history entry with the form as it now stands, and the
// round's summary. form is nil for a return, which keeps the submitted form as
// it was so the province can revise it.
func formChanged(ctx context.Context, tx pgx.Tx, e events.Event, roundID, province, action string,
	status intent.Status, late bool, form *intent.Form, reason string) error {
	if form != nil {
		doc, err := json.Marshal(form)
		if err != nil {
			return err
		}
		var submittedAt *time.Time
		if status == intent.StatusSubmitted {
			submittedAt = &e.RecordedAt
		}
		// A return reason stays visible while the province revises its draft,
		// and is cleared by the resubmission that answers it.
		if _, err := tx.Exec(ctx, `INSERT INTO intent_forms (round_id, province, status, late, return_reason, stream_id, version,
				changed_at, changed_by, submitted_at, form, `+fundColumns+`, total)
			VALUES ($1, $2, $3, $4, '', $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
			ON CONFLICT (round_id, province) DO UPDATE SET status = excluded.status, late = excluded.late,
				return_reason = CASE WHEN excluded.status = 'submitted' THEN '' ELSE intent_forms.return_reason END,
				returned_at = CASE WHEN excluded.status = 'submitted' THEN NULL ELSE intent_forms.returned_at END,
				stream_id = excluded.stream_id, version = excluded.version, changed_at = excluded.changed_at,
				changed_by = excluded.changed_by, submitted_at = coalesce(excluded.submitted_at, intent_forms.submitted_at),
				form = excluded.form, school = excluded.school, industry = excluded.industry, sponsor = excluded.sponsor,
				municipal = excluded.municipal, provincial = excluded.provincial, total = excluded.total`,
			roundID, province, string(status), late, e.StreamID, e.StreamVersion, e.RecordedAt, e.Metadata.ActorID, submittedAt, doc,
			int64(form.Totals.School), int64(form.Totals.Industry), int64(form.Totals.Sponsor), int64(form.Totals.Municipal),
			int64(form.Totals.Provincial), int64(form.Total)); err != nil {
			return err
		}
		b := &pgx.Batch{}
		b.Queue(`DELETE FROM intent_form_lines WHERE round_id = $1 AND province = $2`, roundID, province)
		b.Queue(`DELETE FROM intent_form_units WHERE round_id = $1 AND province = $2`, roundID, province)
		for _, l := range form.Lines {
			for j, u := range l.Units {
				b.Queue(`INSERT INTO intent_form_units (round_id, province, item, position, school_code, school_name)
					VALUES ($1, $2, $3, $4, $5, $6)`, roundID, province, l.Item, j, u.Code, u.Name)
			}
			b.Queue(`INSERT INTO intent_form_lines (round_id, province, item, undertake, quantity, `+fundColumns+`, total)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
				roundID, province, l.Item, l.Undertake, l.Quantity, int64(l.Funds.School), int64(l.Funds.Industry),
				int64(l.Funds.Sponsor), int64(l.Funds.Municipal), int64(l.Funds.Provincial), int64(l.Total))
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
	} else {
		tag, err := tx.Exec(ctx, `UPDATE intent_forms SET status = $3, late = false, return_reason = $4, returned_at = $5,
				stream_id = $6, version = $7, changed_at = $5, changed_by = $8
			WHERE round_id = $1 AND province = $2`,
			roundID, province, string(status), reason, e.RecordedAt, e.StreamID, e.StreamVersion, e.Metadata.ActorID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return fmt.Errorf("%s of round %s has no form to return", province, roundID)
		}
	}
	if _, err := tx.Exec(ctx, `INSERT INTO intent_form_history (round_id, province, seq, action, status, late, reason,
			recorded_at, actor_id, role, event_id, stream_id, stream_version, form)
		SELECT $1, $2, coalesce((SELECT max(seq) FROM intent_form_history WHERE round_id = $1 AND province = $2), 0) + 1,
			$3, f.status, f.late, $4, $5, $6, $7, $8, $9, $10, f.form
		FROM intent_forms f WHERE f.round_id = $1 AND f.province = $2`,
		roundID, province, action, reason, e.RecordedAt, e.Metadata.ActorID, e.Metadata.Role, e.ID, e.StreamID, e.StreamVersion); err != nil {
		return err
	}
	return refreshSummary(ctx, tx, roundID)
}

// refreshSummary computes a round's summary again from its submitted forms.
func refreshSummary(ctx context.Context, tx pgx.Tx, roundID string) error {
	_, err := tx.Exec(ctx, `
DELETE FROM intent_summary WHERE round_id = $1;`, roundID)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `
INSERT INTO intent_summary (round_id, position, item, provinces, quantity, target, `+fundColumns+`, total)
SELECT i.round_id, i.position, i.item,
	count(s.province) FILTER (WHERE s.undertake),
	coalesce(sum(s.quantity), 0), i.target,
	coalesce(sum(s.school), 0), coalesce(sum(s.industry), 0), coalesce(sum(s.sponsor), 0),
	coalesce(sum(s.municipal), 0), coalesce(sum(s.provincial), 0), coalesce(sum(s.total), 0)
FROM intent_round_items i
LEFT JOIN (
	SELECT l.* FROM intent_form_lines l
	JOIN intent_forms f ON f.round_id = l.round_id AND f.province = l.province
	WHERE l.round_id = $1 AND f.status = 'submitted'
) s ON s.item = i.item
WHERE i.round_id = $1
GROUP BY i.round_id, i.position, i.item, i.target`, roundID)
	return err
}

// Digest implements Projection.
func (IntentRounds) Digest(ctx context.Context, tx pgx.Tx) (string, error) {
	d, err := digestTables(ctx, tx,
		`SELECT jsonb_build_array(round_id, batch_id, deadline AT TIME ZONE 'UTC', reminder_offsets, stage,
				opened_at AT TIME ZONE 'UTC', opened_by, closed_at AT TIME ZONE 'UTC', filed_at AT TIME ZONE 'UTC', filed_by, filed_early)::text
			FROM intent_rounds ORDER BY round_id COLLATE "C"`,
		`SELECT jsonb_build_array(round_id, position, item, code, name, target, unit, kind)::text
			FROM intent_round_items ORDER BY round_id COLLATE "C", position`,
		`SELECT jsonb_build_array(round_id, province, extension AT TIME ZONE 'UTC', extended_at AT TIME ZONE 'UTC', extended_by)::text
			FROM intent_round_provinces ORDER BY round_id COLLATE "C", province COLLATE "C"`,
		`SELECT jsonb_build_array(round_id, province, offset_ns, sent_at AT TIME ZONE 'UTC', event_id)::text
			FROM intent_round_reminders ORDER BY round_id COLLATE "C", event_id`,
		`SELECT jsonb_build_array(round_id, province, status, late, return_reason, returned_at AT TIME ZONE 'UTC', stream_id, version,
				changed_at AT TIME ZONE 'UTC', changed_by, submitted_at AT TIME ZONE 'UTC', form, `+fundColumns+`, total)::text
			FROM intent_forms ORDER BY round_id COLLATE "C", province COLLATE "C"`,
		`SELECT jsonb_build_array(round_id, province, item, undertake, quantity, `+fundColumns+`, total)::text
			FROM intent_form_lines ORDER BY round_id COLLATE "C", province COLLATE "C", item COLLATE "C"`,
		`SELECT jsonb_build_array(round_id, province, item, position, school_code, school_name)::text
			FROM intent_form_units ORDER BY round_id COLLATE "C", province COLLATE "C", item COLLATE "C", position`,
		`SELECT jsonb_build_array(round_id, province, letter_no, letter_date, file_name, media_type, size, sha256,
				recorded_at AT TIME ZONE 'UTC', recorded_by, arrived_at AT TIME ZONE 'UTC', arrived_by)::text
			FROM intent_letters ORDER BY round_id COLLATE "C", province COLLATE "C"`,
		`SELECT jsonb_build_array(round_id, province, seq, action, status, late, reason, recorded_at AT TIME ZONE 'UTC',
				actor_id, role, event_id, stream_id, stream_version, form)::text
			FROM intent_form_history ORDER BY round_id COLLATE "C", province COLLATE "C", seq`,
		`SELECT jsonb_build_array(round_id, province, seq, text, recorded_at AT TIME ZONE 'UTC', actor_id)::text
			FROM intent_feedback ORDER BY round_id COLLATE "C", province COLLATE "C", seq`,
		`SELECT jsonb_build_array(round_id, position, item, provinces, quantity, target, `+fundColumns+`, total)::text
			FROM intent_summary ORDER BY round_id COLLATE "C", position`)
	if err != nil {
		return "", fmt.Errorf("intent_rounds digest: %w", err)
	}
	return d, nil
}
