package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"keytask/events"
)

// AsOf names a past instant of the log: a sealed position, or a time. Exactly
// one is set.
type AsOf struct {
	Position int64     // the log's first Position events
	Time     time.Time // the log as it stood at this instant
}

func (a AsOf) String() string {
	if !a.Time.IsZero() {
		return a.Time.UTC().Format(time.RFC3339Nano)
	}
	return fmt.Sprintf("position %d", a.Position)
}

// ErrAsOf is wrapped by errors about an instant that names no part of the log.
var ErrAsOf = errors.New("invalid as-of instant")

// ResolveAsOf returns the sealed position a names. For a time it is the longest
// prefix of the chain whose events were all recorded at or before it: the live
// read models apply events in chain order, so a prefix is what they could have
// shown; an event recorded later cannot have been there at that instant, nor can
// anything after it. The log must be sealed up to the instant asked for.
func ResolveAsOf(ctx context.Context, q Querier, a AsOf) (int64, error) {
	var head int64
	if err := queryOne(ctx, q, `SELECT coalesce(max(position), 0) FROM event_chain`, nil, &head); err != nil {
		return 0, fmt.Errorf("resolve %s: %w", a, err)
	}
	if a.Time.IsZero() {
		if a.Position < 0 || a.Position > head {
			return 0, fmt.Errorf("%w: position %d is outside the sealed log (0..%d)", ErrAsOf, a.Position, head)
		}
		return a.Position, nil
	}
	var pos int64
	err := queryOne(ctx, q, `SELECT coalesce(min(c.position) - 1, $2) FROM event_chain c JOIN events e ON e.id = c.event_id
		WHERE e.recorded_at > $1`, []any{a.Time, head}, &pos)
	if err != nil {
		return 0, fmt.Errorf("resolve %s: %w", a, err)
	}
	return pos, nil
}

func queryOne(ctx context.Context, q Querier, sql string, args []any, dest ...any) error {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	if err := rows.Scan(dest...); err != nil {
		return err
	}
	rows.Close()
	return rows.Err()
}

// scratchName is what a persistent scratch schema may be called: the prefix
// keeps a replay from ever dropping a schema the platform lives in.
var scratchName = regexp.MustCompile(`^audit_[a-z0-9_]{1,50}$`)

// Scratch is where a replay builds read models: a named schema (kept after the
// connection ends, for auditors to query; it needs the right to create schemas)
// or, with the empty name, the connection's own temporary schema, which any role
// may use and which vanishes with the connection.
type Scratch struct {
	conn   *pgx.Conn
	Schema string // "" for the temporary schema
	ps     []Projection
	tables map[string][]string // projection name → its tables
	pos    int64               // the position the scratch models stand at
	seeded bool
	broken bool // a replay failed part-way
}

// NewScratch prepares conn, a connection of its own that nobody else uses, to
// hold replayed read models of ps in schema: it points conn's search_path at
// the schema first, so the projections' unqualified table names land there,
// and keeps public behind it for the log itself. A named schema is dropped and
// created afresh. Errors: ErrAsOf for a bad schema name.
func NewScratch(ctx context.Context, conn *pgx.Conn, schema string, ps []Projection) (*Scratch, error) {
	s := &Scratch{conn: conn, Schema: schema, ps: ps, tables: map[string][]string{}}
	path := "pg_temp, public"
	if schema != "" {
		if !scratchName.MatchString(schema) {
			return nil, fmt.Errorf("%w: scratch schema %q must match %s", ErrAsOf, schema, scratchName)
		}
		if _, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+schema+` CASCADE; CREATE SCHEMA `+schema); err != nil {
			return nil, fmt.Errorf("create scratch schema %s: %w", schema, err)
		}
		path = schema + ", public"
	}
	if _, err := conn.Exec(ctx, `SET search_path = `+path); err != nil {
		return nil, fmt.Errorf("scratch search_path: %w", err)
	}
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		for _, p := range ps {
			before, err := s.listTables(ctx, tx)
			if err != nil {
				return err
			}
			if err := p.Setup(ctx, tx); err != nil {
				return fmt.Errorf("set up %s: %w", p.Name(), err)
			}
			after, err := s.listTables(ctx, tx)
			if err != nil {
				return err
			}
			for _, t := range after {
				if !contains(before, t) {
					s.tables[p.Name()] = append(s.tables[p.Name()], t)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("scratch setup: %w", err)
	}
	return s, nil
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// listTables lists the ordinary tables of the scratch schema.
func (s *Scratch) listTables(ctx context.Context, tx pgx.Tx) ([]string, error) {
	rows, err := tx.Query(ctx, `SELECT c.relname FROM pg_class c
		WHERE c.relkind IN ('r', 'p') AND c.relnamespace = CASE WHEN $1 = '' THEN pg_my_temp_schema() ELSE to_regnamespace($1)::oid END
		ORDER BY c.relname`, s.Schema)
	if err != nil {
		return nil, fmt.Errorf("list scratch tables: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// Tables returns the tables each projection keeps in the scratch schema.
func (s *Scratch) Tables() map[string][]string { return s.tables }

// Position is the log position the scratch read models stand at.
func (s *Scratch) Position() int64 { return s.pos }

// ReplayResult is the state of every scratch read model after a replay.
type ReplayResult struct {
	Position int64             // the log's first Position events were applied
	Events   int64             // how many events this call applied
	Digests  map[string]string // projection name → Digest, comparable with the live model's
}

// ReplayTo brings every scratch read model to the log's first pos events: the
// first call resets them and replays from the start, later calls go on from
// where the previous one stopped (pos may not go back). It returns every
// projection's digest.
//
// Each batch of events is applied in a transaction of its own. Writing, even to
// temporary tables, gives a transaction an id, and the log's sealer and every
// live projection wait for the oldest transaction open on the cluster: one
// transaction around a whole national replay would stall the platform for as
// long. A replay that fails part-way leaves the scratch unusable (ErrAsOf).
func (s *Scratch) ReplayTo(ctx context.Context, store *events.Store, pos int64) (ReplayResult, error) {
	res := ReplayResult{Position: pos, Digests: map[string]string{}}
	switch {
	case s.broken:
		return res, fmt.Errorf("%w: an earlier replay into this scratch failed part-way", ErrAsOf)
	case s.seeded && pos < s.pos:
		return res, fmt.Errorf("%w: the scratch models stand at position %d, cannot go back to %d", ErrAsOf, s.pos, pos)
	}
	fresh := !s.seeded
	// Until the last step commits, the scratch holds a replay half done.
	s.broken = true
	inTx := func(f func(tx pgx.Tx) error) error {
		if err := pgx.BeginFunc(ctx, s.conn, f); err != nil {
			return fmt.Errorf("replay to position %d: %w", pos, err)
		}
		return nil
	}
	after := s.pos
	if fresh {
		after = 0
		err := inTx(func(tx pgx.Tx) error {
			for _, p := range s.ps {
				if err := p.Reset(ctx, tx); err != nil {
					return fmt.Errorf("reset %s: %w", p.Name(), err)
				}
				if h, ok := p.(ReplayHooks); ok {
					if err := h.BeforeReplay(ctx, tx); err != nil {
						return fmt.Errorf("%s before replay: %w", p.Name(), err)
					}
				}
			}
			return nil
		})
		if err != nil {
			return res, err
		}
	}
	for after < pos {
		evs, err := store.ReadAll(ctx, after, int(min(rebuildBatch, pos-after)))
		if err != nil {
			return res, fmt.Errorf("replay to position %d: %w", pos, err)
		}
		if len(evs) == 0 {
			return res, fmt.Errorf("%w: the sealed log ends at position %d, before %d", ErrAsOf, after, pos)
		}
		if err := inTx(func(tx pgx.Tx) error {
			for _, p := range s.ps {
				if err := applyAll(ctx, tx, p, evs); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return res, err
		}
		after = evs[len(evs)-1].Position
		res.Events += int64(len(evs))
	}
	err := inTx(func(tx pgx.Tx) error {
		for _, p := range s.ps {
			if h, ok := p.(ReplayHooks); ok && fresh {
				if err := h.AfterReplay(ctx, tx); err != nil {
					return fmt.Errorf("%s after replay: %w", p.Name(), err)
				}
			}
			d, err := p.Digest(ctx, tx)
			if err != nil {
				return fmt.Errorf("digest of %s: %w", p.Name(), err)
			}
			res.Digests[p.Name()] = d
		}
		return nil
	})
	if err != nil {
		return res, err
	}
	s.seeded, s.pos, s.broken = true, pos, false
	return res, nil
}

func applyAll(ctx context.Context, tx pgx.Tx, p Projection, evs []events.Event) error {
	if b, ok := p.(BatchApplier); ok {
		if err := b.ApplyBatch(ctx, tx, evs); err != nil {
			return fmt.Errorf("%s: apply events at positions %d..%d: %w", p.Name(), evs[0].Position, evs[len(evs)-1].Position, err)
		}
		return nil
	}
	for _, e := range evs {
		if err := p.Apply(ctx, tx, e); err != nil {
			return fmt.Errorf("%s: apply %s at position %d (stream %s version %d): %w", p.Name(), e.Type, e.Position, e.StreamID, e.StreamVersion, err)
		}
	}
	return nil
}

// TableDiff is how one read-model table differs between two instants. Rows are
// JSON objects of the whole row.
type TableDiff struct {
	Projection  string   `json:"projection"`
	Table       string   `json:"table"`
	Added       int64    `json:"added"`
	Removed     int64    `json:"removed"`
	AddedRows   []string `json:"added_rows,omitempty"`
	RemovedRows []string `json:"removed_rows,omitempty"`
}

// Diff is how the read models differ between two instants of the log.
type Diff struct {
	From            int64             `json:"from_position"`
	To              int64             `json:"to_position"`
	EventsInBetween int64             `json:"events_in_between"`
	FromDigests     map[string]string `json:"from_digests"`
	ToDigests       map[string]string `json:"to_digests"`
	Changed         []string          `json:"changed"` // projections whose digest differs
	Tables          []TableDiff       `json:"tables"`  // tables with any difference
	RowLimit        int               `json:"row_limit"`
}

// DiffPositions replays the scratch read models to from, keeps a copy of every
// table, goes on to to, and compares: each table's rows added and removed (at
// most rowLimit of each shown), and which projections' digests changed. from
// must not exceed to. The scratch must be fresh.
func (s *Scratch) DiffPositions(ctx context.Context, store *events.Store, from, to int64, rowLimit int) (Diff, error) {
	d := Diff{From: from, To: to, RowLimit: rowLimit}
	if from > to {
		return d, fmt.Errorf("%w: the first instant (position %d) is after the second (position %d)", ErrAsOf, from, to)
	}
	a, err := s.ReplayTo(ctx, store, from)
	if err != nil {
		return d, err
	}
	// Copies of the earlier models, named after their tables with a suffix
	// the projections never use.
	var all []string
	for _, p := range s.ps {
		all = append(all, s.tables[p.Name()]...)
	}
	err = pgx.BeginFunc(ctx, s.conn, func(tx pgx.Tx) error {
		for _, t := range all {
			q := `CREATE TEMP TABLE ` + pgx.Identifier{t + "__asof"}.Sanitize() + ` AS TABLE ` + s.qualified(t)
			if s.Schema != "" {
				q = `CREATE TABLE ` + pgx.Identifier{s.Schema, t + "__asof"}.Sanitize() + ` AS TABLE ` + s.qualified(t)
			}
			if _, err := tx.Exec(ctx, q); err != nil {
				return fmt.Errorf("copy %s: %w", t, err)
			}
		}
		return nil
	})
	if err != nil {
		return d, fmt.Errorf("diff: %w", err)
	}
	b, err := s.ReplayTo(ctx, store, to)
	if err != nil {
		return d, err
	}
	d.FromDigests, d.ToDigests, d.EventsInBetween = a.Digests, b.Digests, b.Events
	for _, p := range s.ps {
		if a.Digests[p.Name()] != b.Digests[p.Name()] {
			d.Changed = append(d.Changed, p.Name())
		}
	}
	err = pgx.BeginFunc(ctx, s.conn, func(tx pgx.Tx) error {
		for _, p := range s.ps {
			for _, t := range s.tables[p.Name()] {
				td := TableDiff{Projection: p.Name(), Table: t}
				before := s.qualified(t + "__asof")
				if s.Schema == "" {
					before = pgx.Identifier{t + "__asof"}.Sanitize()
				}
				now := s.qualified(t)
				var err error
				if td.Added, td.AddedRows, err = exceptRows(ctx, tx, now, before, rowLimit); err != nil {
					return err
				}
				if td.Removed, td.RemovedRows, err = exceptRows(ctx, tx, before, now, rowLimit); err != nil {
					return err
				}
				if td.Added > 0 || td.Removed > 0 {
					d.Tables = append(d.Tables, td)
				}
			}
		}
		return nil
	})
	if err != nil {
		return d, fmt.Errorf("diff: %w", err)
	}
	return d, nil
}

func (s *Scratch) qualified(t string) string {
	if s.Schema == "" {
		return `pg_temp.` + pgx.Identifier{t}.Sanitize()
	}
	return pgx.Identifier{s.Schema, t}.Sanitize()
}

// exceptRows counts the rows of a that b lacks (as a multiset) and returns up to
// limit of them as JSON. Rows are compared as jsonb, since json columns have no
// equality operator.
func exceptRows(ctx context.Context, tx pgx.Tx, a, b string, limit int) (int64, []string, error) {
	q := `WITH d AS (SELECT to_jsonb(x)::text AS r FROM ` + a + ` x EXCEPT ALL SELECT to_jsonb(y)::text FROM ` + b + ` y)
		SELECT (SELECT count(*) FROM d), coalesce((SELECT array_agg(r) FROM (SELECT r FROM d ORDER BY r COLLATE "C" LIMIT $1) l), '{}')`
	var n int64
	var rows []string
	if err := tx.QueryRow(ctx, q, limit).Scan(&n, &rows); err != nil {
		return 0, nil, fmt.Errorf("compare %s with %s: %w", a, b, err)
	}
	return n, rows, nil
}

// ParseAsOf reads an instant as a log position (a non-negative integer) or an
// RFC 3339 time.
func ParseAsOf(s string) (AsOf, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 {
			return AsOf{}, fmt.Errorf("%w: position %d is negative", ErrAsOf, n)
		}
		return AsOf{Position: n}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return AsOf{}, fmt.Errorf("%w: %q is neither a log position nor an RFC 3339 time", ErrAsOf, s)
	}
	return AsOf{Time: t}, nil
}

// TableRows returns up to limit rows of one scratch table as JSON
// objects, in a stable order, and the table's row count. table must be one of
// the scratch's tables.
func (s *Scratch) TableRows(ctx context.Context, table string, limit int) (int64, []json.RawMessage, error) {
	known := false
	for _, ts := range s.tables {
		known = known || contains(ts, table)
	}
	if !known {
		return 0, nil, fmt.Errorf("%w: no read-model table %q", ErrAsOf, table)
	}
	var n int64
	var rows []string
	err := s.conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM `+s.qualified(table)+`),
		coalesce((SELECT array_agg(r) FROM (SELECT r FROM (SELECT to_jsonb(x)::text AS r FROM `+s.qualified(table)+` x) j ORDER BY r COLLATE "C" LIMIT $1) l), '{}')`, limit).
		Scan(&n, &rows)
	if err != nil {
		return 0, nil, fmt.Errorf("read scratch table %s: %w", table, err)
	}
	out := make([]json.RawMessage, len(rows))
	for i, r := range rows {
		out[i] = json.RawMessage(r)
	}
	return n, out, nil
}

// RowCounts returns the row count of every scratch table, by projection.
func (s *Scratch) RowCounts(ctx context.Context) (map[string]map[string]int64, error) {
	out := map[string]map[string]int64{}
	for name, ts := range s.tables {
		out[name] = map[string]int64{}
		for _, t := range ts {
			var n int64
			if err := s.conn.QueryRow(ctx, `SELECT count(*) FROM `+s.qualified(t)).Scan(&n); err != nil {
				return nil, fmt.Errorf("count scratch table %s: %w", t, err)
			}
			out[name][t] = n
		}
	}
	return out, nil
}
