package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"keytask/domain/identity"
	"keytask/domain/intent"
)

// Round is a round's state as the read model holds it.
type Round struct {
	RoundID         string
	BatchID         string
	Deadline        time.Time
	ReminderOffsets []time.Duration
	Stage           intent.Stage
	OpenedAt        time.Time
	OpenedBy        string
	ClosedAt        *time.Time
	FiledAt         *time.Time
	FiledBy         string
	FiledEarly      bool              // filed before the deadline, every province having submitted
	Items           []intent.TaskItem // the catalogue as it stood at opening
	Provinces       []RoundProvince   // the provinces expected to submit, by code
}

// RoundProvince is one expected province's standing in a round.
type RoundProvince struct {
	Province
	Status     intent.Status // none until its first save
	Late       bool
	Extension  *time.Time // may submit until then, past the round's deadline
	ExtendedBy string
	Reminders  []Reminder // in the order they were sent
	Letter     *Letter    // the 厅函 that sends its form, once recorded
}

// Letter is the 厅函 that sends a province's form: its number, date and
// stamped scan, and when the ministry marked it arrived.
type Letter struct {
	LetterNo   string
	Date       string // YYYY-MM-DD
	FileName   string
	MediaType  string
	Size       int64
	SHA256     string // the scan in the attachments store
	RecordedAt time.Time
	RecordedBy string
	ArrivedAt  *time.Time // nil until the ministry marks it arrived
	ArrivedBy  string
}

// Reminder is a reminder sent to a province.
type Reminder struct {
	Offset time.Duration // before the deadline
	SentAt time.Time
}

// EffectiveDeadline is when the province's window closes: its extension, if it
// has one, else the round's deadline.
func (r Round) EffectiveDeadline(province string) time.Time {
	for _, p := range r.Provinces {
		if p.Code == province && p.Extension != nil {
			return *p.Extension
		}
	}
	return r.Deadline
}

// The queries that read a round, sent together (see pipeline): each takes the
// round's id as $1.
const (
	roundSQL = `SELECT round_id, batch_id, deadline, reminder_offsets, stage, opened_at, opened_by,
		closed_at, filed_at, filed_by, filed_early FROM intent_rounds WHERE round_id = $1`
	roundItemsSQL     = `SELECT item, code, name, target, unit, kind FROM intent_round_items WHERE round_id = $1 ORDER BY position`
	roundProvincesSQL = `SELECT p.province, coalesce(f.status, 'none'), coalesce(f.late, false), p.extension, p.extended_by,
			` + letterColumns + `
		FROM intent_round_provinces p
		LEFT JOIN intent_forms f ON f.round_id = p.round_id AND f.province = p.province
		LEFT JOIN intent_letters l ON l.round_id = p.round_id AND l.province = p.province
		WHERE p.round_id = $1 ORDER BY p.province COLLATE "C"`
	roundRemindersSQL = `SELECT province, offset_ns, sent_at FROM intent_round_reminders WHERE round_id = $1
		ORDER BY sent_at, offset_ns DESC, province COLLATE "C"`
	// The liaisons are another projection's; reading them here only adds
	// contact details, so a liaison registered a moment ago may be missing.
	// All of the round's provinces' are read, so that the query does not
	// depend on the round's and can be sent with them.
	roundLiaisonsSQL = `SELECT l.province, l.name, l.phone, l.email FROM liaisons l
		JOIN intent_round_provinces p ON p.province = l.province WHERE p.round_id = $1`
)

// GetRound returns a round with its catalogue and provinces. Errors: ErrRoundNotFound.
func GetRound(ctx context.Context, q Querier, roundID string) (Round, error) {
	pl := newPipeline(ctx, q)
	pl.queue(roundSQL, roundID)
	pl.queue(roundItemsSQL, roundID)
	pl.queue(roundProvincesSQL, roundID)
	pl.queue(roundRemindersSQL, roundID)
	defer pl.close()
	r, err := readRound(pl, roundID)
	if err != nil {
		return r, err
	}
	at := make(map[string]int, len(r.Provinces))
	for i, p := range r.Provinces {
		at[p.Code] = i
	}
	rows, err := pl.next()
	if err != nil {
		return r, fmt.Errorf("reminders of round %s: %w", roundID, err)
	}
	var code string
	var offset int64
	var sent time.Time
	if _, err := pgx.ForEachRow(rows, []any{&code, &offset, &sent}, func() error {
		if i, ok := at[code]; ok {
			r.Provinces[i].Reminders = append(r.Provinces[i].Reminders, Reminder{Offset: time.Duration(offset), SentAt: sent.UTC()})
		}
		return nil
	}); err != nil {
		return r, fmt.Errorf("reminders of round %s: %w", roundID, err)
	}
	return r, nil
}

// readRound reads the answers to roundSQL, roundItemsSQL and roundProvincesSQL,
// in that order, from pl: a round without its reminders.
func readRound(pl *pipeline, roundID string) (Round, error) {
	rows, err := pl.next()
	if err != nil {
		return Round{}, fmt.Errorf("get round %s: %w", roundID, err)
	}
	r, err := pgx.CollectExactlyOneRow(rows, func(row pgx.CollectableRow) (Round, error) {
		var r Round
		var offsets []int64
		var stage string
		err := row.Scan(&r.RoundID, &r.BatchID, &r.Deadline, &offsets, &stage, &r.OpenedAt, &r.OpenedBy, &r.ClosedAt, &r.FiledAt, &r.FiledBy, &r.FiledEarly)
		r.Stage = intent.Stage(stage)
		r.ReminderOffsets = make([]time.Duration, len(offsets))
		for i, o := range offsets {
			r.ReminderOffsets[i] = time.Duration(o)
		}
		r.Deadline, r.OpenedAt, r.ClosedAt, r.FiledAt = r.Deadline.UTC(), r.OpenedAt.UTC(), utc(r.ClosedAt), utc(r.FiledAt)
		return r, err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return r, fmt.Errorf("get round %s: %w", roundID, ErrRoundNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("get round %s: %w", roundID, err)
	}
	if rows, err = pl.next(); err == nil {
		r.Items, err = pgx.CollectRows(rows, scanTaskItem)
	}
	if err != nil {
		return r, fmt.Errorf("items of round %s: %w", roundID, err)
	}
	if rows, err = pl.next(); err == nil {
		// Sized for every province at once: growing the slice row by row
		// is most of what reading a round allocates.
		r.Provinces, err = pgx.AppendRows(make([]RoundProvince, 0, len(identity.Provinces)), rows, func(row pgx.CollectableRow) (RoundProvince, error) {
			var p RoundProvince
			var status string
			var l letterScan
			err := row.Scan(append([]any{&p.Code, &status, &p.Late, &p.Extension, &p.ExtendedBy}, l.dest()...)...)
			p.Name, p.Status, p.Extension, p.Letter = identity.Provinces[p.Code], intent.Status(status), utc(p.Extension), l.letter()
			return p, err
		})
	}
	if err != nil {
		return r, fmt.Errorf("provinces of round %s: %w", roundID, err)
	}
	return r, nil
}

// pipeline sends several queries in one round trip to the database where the
// Querier can (a pool, a connection or a transaction all can), and one after
// another where it cannot. A read of a round is half a dozen small keyed
// queries: sent one by one, each waits for a connection and a round trip, and
// under load those waits, not the queries, are what a request spends its time on.
type pipeline struct {
	ctx     context.Context
	q       Querier
	batch   pgx.Batch
	results pgx.BatchResults // once sent
	sent    int              // queries answered so far
}

// batchSender is what pipelines queries; pgxpool.Pool, pgx.Conn and pgx.Tx are.
type batchSender interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

func newPipeline(ctx context.Context, q Querier) *pipeline { return &pipeline{ctx: ctx, q: q} }

// queue adds a query; all are queued before the first next.
func (p *pipeline) queue(sql string, args ...any) { p.batch.Queue(sql, args...) }

// next returns the rows of the next query in the order queued. They must be
// read or closed before the next call.
func (p *pipeline) next() (pgx.Rows, error) {
	if p.sent >= p.batch.Len() {
		return nil, fmt.Errorf("pipeline: %d queries queued, a %dth asked for", p.batch.Len(), p.sent+1)
	}
	qq := p.batch.QueuedQueries[p.sent]
	p.sent++
	if b, ok := p.q.(batchSender); ok {
		if p.results == nil {
			p.results = b.SendBatch(p.ctx, &p.batch)
		}
		return p.results.Query()
	}
	return p.q.Query(p.ctx, qq.SQL, qq.Arguments...)
}

// close ends the pipeline; the answers not read are discarded.
func (p *pipeline) close() {
	if p.results != nil {
		_ = p.results.Close()
	}
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// FormLine is one row of a form with its task item.
type FormLine struct {
	intent.TaskItem
	Undertake bool
	Quantity  int64
	Funds     intent.Funds
	Total     intent.Yuan
	Units     []intent.Unit // 实施单位, in the province's order
}

// letterColumns read an intent_letters row joined as l; every column is
// null when the province has recorded no letter.
const letterColumns = `l.letter_no, l.letter_date, l.file_name, l.media_type, l.size, l.sha256,
	l.recorded_at, l.recorded_by, l.arrived_at, l.arrived_by`

// letterScan receives letterColumns.
type letterScan struct {
	no, date, name, media, hash, by, arrivedBy *string
	size                                       *int64
	at, arrived                                *time.Time
}

func (l *letterScan) dest() []any {
	return []any{&l.no, &l.date, &l.name, &l.media, &l.size, &l.hash, &l.at, &l.by, &l.arrived, &l.arrivedBy}
}

func (l *letterScan) letter() *Letter {
	if l.no == nil {
		return nil
	}
	return &Letter{LetterNo: *l.no, Date: *l.date, FileName: *l.name, MediaType: *l.media, Size: *l.size, SHA256: *l.hash,
		RecordedAt: l.at.UTC(), RecordedBy: *l.by, ArrivedAt: utc(l.arrived), ArrivedBy: *l.arrivedBy}
}

// Feedback is the ministry's feedback to a province on a filed round.
type Feedback struct {
	Seq        int
	Text       string
	RecordedAt time.Time
	ActorID    string
}

// FormView is a province's form in a round as it stands, with everything a
// page, a print-out or a spreadsheet of it shows.
type FormView struct {
	RoundID      string
	BatchID      string
	Province     Province
	Stage        intent.Stage
	Deadline     time.Time  // the round's
	Extension    *time.Time // the province's, if any
	Status       intent.Status
	Late         bool
	ReturnReason string
	ReturnedAt   *time.Time
	Version      int64 // stream version of the event that last changed the form; 0 before the first save
	ChangedAt    *time.Time
	ChangedBy    string
	SubmittedAt  *time.Time
	Lines        []FormLine // one per item of the round's catalogue, in its order
	Totals       intent.Funds
	Total        intent.Yuan
	Feedback     []Feedback
	Letter       *Letter // the 厅函 that sends the form, once recorded
}

// GetForm returns a province's form in a round. A province that has not saved
// anything yet has status none and empty lines. Errors: ErrRoundNotFound (also
// for a province the round does not expect).
func GetForm(ctx context.Context, q Querier, roundID, province string) (FormView, error) {
	pl := newPipeline(ctx, q)
	pl.queue(roundSQL, roundID)
	pl.queue(roundItemsSQL, roundID)
	pl.queue(roundProvincesSQL, roundID)
	pl.queue(`SELECT status, late, return_reason, returned_at, version, changed_at, changed_by, submitted_at,
			`+fundColumns+`, total
		FROM intent_forms WHERE round_id = $1 AND province = $2`, roundID, province)
	pl.queue(`SELECT item, undertake, quantity, `+fundColumns+`, total
		FROM intent_form_lines WHERE round_id = $1 AND province = $2`, roundID, province)
	pl.queue(`SELECT seq, text, recorded_at, actor_id FROM intent_feedback
		WHERE round_id = $1 AND province = $2 ORDER BY seq`, roundID, province)
	pl.queue(`SELECT item, school_code, school_name FROM intent_form_units
		WHERE round_id = $1 AND province = $2 ORDER BY item, position`, roundID, province)
	pl.queue(`SELECT `+letterColumns+` FROM intent_letters l WHERE round_id = $1 AND province = $2`, roundID, province)
	defer pl.close()
	r, err := readRound(pl, roundID)
	if err != nil {
		return FormView{}, err
	}
	v := FormView{RoundID: r.RoundID, BatchID: r.BatchID, Stage: r.Stage, Deadline: r.Deadline, Status: intent.StatusNone}
	found := false
	for _, p := range r.Provinces {
		if p.Code == province {
			v.Province, v.Extension, found = p.Province, p.Extension, true
		}
	}
	if !found {
		return FormView{}, fmt.Errorf("form of %s in round %s: %w", province, roundID, ErrRoundNotFound)
	}
	rows, err := pl.next()
	if err != nil {
		return v, fmt.Errorf("form of %s in round %s: %w", province, roundID, err)
	}
	_, err = pgx.CollectExactlyOneRow(rows, func(row pgx.CollectableRow) (struct{}, error) {
		var status string
		var f [6]int64
		err := row.Scan(&status, &v.Late, &v.ReturnReason, &v.ReturnedAt, &v.Version, &v.ChangedAt, &v.ChangedBy, &v.SubmittedAt,
			&f[0], &f[1], &f[2], &f[3], &f[4], &f[5])
		v.Status = intent.Status(status)
		v.Totals = funds(f[:5])
		v.Total = intent.Yuan(f[5])
		v.ReturnedAt, v.ChangedAt, v.SubmittedAt = utc(v.ReturnedAt), utc(v.ChangedAt), utc(v.SubmittedAt)
		return struct{}{}, err
	})
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return v, fmt.Errorf("form of %s in round %s: %w", province, roundID, err)
	}
	lines := map[string]FormLine{}
	rows, err = pl.next()
	if err != nil {
		return v, fmt.Errorf("lines of %s in round %s: %w", province, roundID, err)
	}
	var item string
	var l FormLine
	var f [6]int64
	if _, err := pgx.ForEachRow(rows, []any{&item, &l.Undertake, &l.Quantity, &f[0], &f[1], &f[2], &f[3], &f[4], &f[5]}, func() error {
		l.Funds, l.Total = funds(f[:5]), intent.Yuan(f[5])
		lines[item] = l
		return nil
	}); err != nil {
		return v, fmt.Errorf("lines of %s in round %s: %w", province, roundID, err)
	}
	v.Lines = make([]FormLine, len(r.Items))
	for i, it := range r.Items {
		l := lines[it.Item]
		l.TaskItem = it
		v.Lines[i] = l
	}
	if rows, err = pl.next(); err == nil {
		v.Feedback, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (Feedback, error) {
			var fb Feedback
			err := row.Scan(&fb.Seq, &fb.Text, &fb.RecordedAt, &fb.ActorID)
			fb.RecordedAt = fb.RecordedAt.UTC()
			return fb, err
		})
	}
	if err != nil {
		return v, fmt.Errorf("feedback to %s in round %s: %w", province, roundID, err)
	}
	if rows, err = pl.next(); err != nil {
		return v, fmt.Errorf("units of %s in round %s: %w", province, roundID, err)
	}
	units := map[string][]intent.Unit{}
	var u intent.Unit
	if _, err := pgx.ForEachRow(rows, []any{&item, &u.Code, &u.Name}, func() error {
		units[item] = append(units[item], u)
		return nil
	}); err != nil {
		return v, fmt.Errorf("units of %s in round %s: %w", province, roundID, err)
	}
	for i := range v.Lines {
		v.Lines[i].Units = units[v.Lines[i].Item]
	}
	if rows, err = pl.next(); err != nil {
		return v, fmt.Errorf("letter of %s in round %s: %w", province, roundID, err)
	}
	var ls letterScan
	if _, err := pgx.ForEachRow(rows, ls.dest(), func() error { v.Letter = ls.letter(); return nil }); err != nil {
		return v, fmt.Errorf("letter of %s in round %s: %w", province, roundID, err)
	}
	return v, nil
}

// FiledUnit is one 实施单位 of a province's submitted intent: the school that
// carries task item Item for Province.
type FiledUnit struct {
	Province   string
	Item       string
	SchoolCode string
	SchoolName string
}

// SubmittedUnits returns the 实施单位 of the round's submitted forms (a form
// counts while it stands submitted, as in the summary; once the round is
// filed these are the filed intents), by province, task item and the
// province's order. province and item, when not empty, narrow it to one.
func SubmittedUnits(ctx context.Context, q Querier, roundID, province, item string) ([]FiledUnit, error) {
	rows, err := q.Query(ctx, `SELECT u.province, u.item, u.school_code, u.school_name
		FROM intent_form_units u
		JOIN intent_forms f ON f.round_id = u.round_id AND f.province = u.province AND f.status = 'submitted'
		WHERE u.round_id = $1 AND ($2 = '' OR u.province = $2) AND ($3 = '' OR u.item = $3)
		ORDER BY u.province COLLATE "C", u.item COLLATE "C", u.position`, roundID, province, item)
	if err != nil {
		return nil, fmt.Errorf("units of round %s: %w", roundID, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (FiledUnit, error) {
		var u FiledUnit
		return u, row.Scan(&u.Province, &u.Item, &u.SchoolCode, &u.SchoolName)
	})
	if err != nil {
		return nil, fmt.Errorf("units of round %s: %w", roundID, err)
	}
	return out, nil
}

// funds reads the five source columns in the order of intent.Sources.
func funds(v []int64) intent.Funds {
	var f intent.Funds
	for i, s := range intent.Sources {
		f.Set(s, intent.Yuan(v[i]))
	}
	return f
}

// FormHistoryEntry is one save, submission or return of a form.
type FormHistoryEntry struct {
	Seq           int
	Action        string // save, submit, return
	Status        intent.Status
	Late          bool
	Reason        string // of a return
	RecordedAt    time.Time
	ActorID       string
	Role          string
	EventID       string
	StreamID      string
	StreamVersion int64
	Form          intent.Form // as it was after the action
}

// FormHistory returns every change of a province's form in a round, oldest
// first (none before the first save).
func FormHistory(ctx context.Context, q Querier, roundID, province string) ([]FormHistoryEntry, error) {
	rows, err := q.Query(ctx, `SELECT seq, action, status, late, reason, recorded_at, actor_id, role, event_id::text,
			stream_id, stream_version, form
		FROM intent_form_history WHERE round_id = $1 AND province = $2 ORDER BY seq`, roundID, province)
	if err != nil {
		return nil, fmt.Errorf("history of %s in round %s: %w", province, roundID, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (FormHistoryEntry, error) {
		var h FormHistoryEntry
		var status string
		var form []byte
		if err := row.Scan(&h.Seq, &h.Action, &status, &h.Late, &h.Reason, &h.RecordedAt, &h.ActorID, &h.Role, &h.EventID,
			&h.StreamID, &h.StreamVersion, &form); err != nil {
			return h, err
		}
		h.Status, h.RecordedAt = intent.Status(status), h.RecordedAt.UTC()
		return h, json.Unmarshal(form, &h.Form)
	})
	if err != nil {
		return nil, fmt.Errorf("history of %s in round %s: %w", province, roundID, err)
	}
	return out, nil
}

// SummaryItem is one task item of the national summary.
type SummaryItem struct {
	intent.TaskItem
	Provinces int   // provinces whose submitted form undertakes the item
	Quantity  int64 // their 承接数量 in total
	Funds     intent.Funds
	Total     intent.Yuan
}

// Coverage returns the quantity undertaken against the national target as an
// exact fraction; ok is false for an item without a target (development tasks).
func (s SummaryItem) Coverage() (num, den int64, ok bool) {
	return s.Quantity, s.Target, s.Target > 0
}

// CoveragePercent formats the coverage as a percentage with two decimals,
// rounded half up in integer arithmetic ("36.67"); "" without a target.
func (s SummaryItem) CoveragePercent() string {
	num, den, ok := s.Coverage()
	if !ok {
		return ""
	}
	// Hundredths of a percent: num*10000/den, rounded half up. Quantities are
	// bounded (intent.MaxQuantity per province), so the product cannot overflow.
	bp := (num*10000*2 + den) / (2 * den)
	return fmt.Sprintf("%d.%02d", bp/100, bp%100)
}

// Summary is the national summary of a round (汇总).
type Summary struct {
	RoundID   string
	BatchID   string
	Stage     intent.Stage
	Deadline  time.Time
	Expected  int        // provinces expected to submit
	Submitted []Province // provinces whose form counts, by code
	Missing   []MissingProvince
	Items     []SummaryItem // in catalogue order
	Totals    intent.Funds  // over all items
	Total     intent.Yuan
}

// MissingProvince is a province without a submitted form, with what it has
// done so far and whom to call.
type MissingProvince struct {
	Province
	Status       intent.Status // none, draft or returned
	Extension    *time.Time
	LiaisonName  string // "" when the province has registered no liaison
	LiaisonPhone string
	LiaisonEmail string
}

// GetSummary returns the national summary of a round: for each task item, the
// provinces undertaking it, the quantity against the national target and the
// money per source, from submitted forms only (see IntentRounds). Errors:
// ErrRoundNotFound.
func GetSummary(ctx context.Context, q Querier, roundID string) (Summary, error) {
	pl := newPipeline(ctx, q)
	pl.queue(roundSQL, roundID)
	pl.queue(roundItemsSQL, roundID)
	pl.queue(roundProvincesSQL, roundID)
	pl.queue(`SELECT position, provinces, quantity, `+fundColumns+`, total
		FROM intent_summary WHERE round_id = $1 ORDER BY position`, roundID)
	pl.queue(roundLiaisonsSQL, roundID)
	defer pl.close()
	r, err := readRound(pl, roundID)
	if err != nil {
		return Summary{}, err
	}
	s := Summary{RoundID: r.RoundID, BatchID: r.BatchID, Stage: r.Stage, Deadline: r.Deadline, Expected: len(r.Provinces),
		Submitted: []Province{}}
	rows, err := pl.next()
	if err != nil {
		return s, fmt.Errorf("summary of round %s: %w", roundID, err)
	}
	var pos, provinces int
	var qty int64
	var f [6]int64
	s.Items = make([]SummaryItem, 0, len(r.Items))
	if _, err := pgx.ForEachRow(rows, []any{&pos, &provinces, &qty, &f[0], &f[1], &f[2], &f[3], &f[4], &f[5]}, func() error {
		if pos >= len(r.Items) {
			return fmt.Errorf("summary row %d beyond the %d items", pos, len(r.Items))
		}
		it := SummaryItem{TaskItem: r.Items[pos], Provinces: provinces, Quantity: qty, Funds: funds(f[:5]), Total: intent.Yuan(f[5])}
		s.Items = append(s.Items, it)
		var err error
		if s.Totals, err = s.Totals.Plus(it.Funds); err != nil {
			return err
		}
		s.Total, err = s.Total.Add(it.Total)
		return err
	}); err != nil {
		return s, fmt.Errorf("summary of round %s: %w", roundID, err)
	}
	if s.Missing, err = missing(pl, r); err != nil {
		return s, err
	}
	for _, p := range r.Provinces {
		if p.Status == intent.StatusSubmitted {
			s.Submitted = append(s.Submitted, p.Province)
		}
	}
	return s, nil
}

// MissingProvinces returns the provinces of a round without a submitted form,
// by code. Errors: ErrRoundNotFound.
func MissingProvinces(ctx context.Context, q Querier, roundID string) ([]MissingProvince, error) {
	pl := newPipeline(ctx, q)
	pl.queue(roundSQL, roundID)
	pl.queue(roundItemsSQL, roundID)
	pl.queue(roundProvincesSQL, roundID)
	pl.queue(roundLiaisonsSQL, roundID)
	defer pl.close()
	r, err := readRound(pl, roundID)
	if err != nil {
		return nil, err
	}
	return missing(pl, r)
}

// missing lists the round's provinces without a submitted form, with the
// contacts that pl's next answer (roundLiaisonsSQL) holds.
func missing(pl *pipeline, r Round) ([]MissingProvince, error) {
	out := []MissingProvince{}
	for _, p := range r.Provinces {
		if p.Status != intent.StatusSubmitted {
			out = append(out, MissingProvince{Province: p.Province, Status: p.Status, Extension: p.Extension})
		}
	}
	rows, err := pl.next()
	if err != nil {
		return nil, fmt.Errorf("liaisons of missing provinces: %w", err)
	}
	contacts := map[string][3]string{}
	var code, name, phone, email string
	if _, err := pgx.ForEachRow(rows, []any{&code, &name, &phone, &email}, func() error {
		contacts[code] = [3]string{name, phone, email}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("liaisons of missing provinces: %w", err)
	}
	for i, m := range out {
		c := contacts[m.Code]
		out[i].LiaisonName, out[i].LiaisonPhone, out[i].LiaisonEmail = c[0], c[1], c[2]
	}
	return out, nil
}
