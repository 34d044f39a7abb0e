package events

import (
	"bytes"
	"context"
	"crypto/hmac"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Report is the outcome of walking the whole log.
type Report struct {
	Events  int64  // sealed events checked
	Head    Head   // the chain's last position and hash as recomputed
	Pending int64  // committed events the sealer has not linked yet (not an error)
	Problem string // empty when the log is intact
	// MACsChecked reports whether the log key was available, so that every row's
	// MAC was checked as well as the chain.
	MACsChecked bool
	// BadPosition is the first position at which the log departs from its chain;
	// for an event inserted out of band and not yet sealed, the position it would take.
	BadPosition int64
}

// OK reports whether the log is intact.
func (r Report) OK() bool { return r.Problem == "" }

// HeadHex is the head hash in hex.
func (r Report) HeadHex() string { return hex.EncodeToString(r.Head.Hash) }

// Verify walks the chain from position 1, recomputes every hash from the stored
// events and, given the log key, checks every event's MAC. It stops at the first problem: a changed, deleted, inserted or
// reordered row. progress, if not nil, is called now and then with the
// number of events checked.
func Verify(ctx context.Context, q Querier, macKey []byte, progress func(n int64)) (Report, error) {
	rep := Report{MACsChecked: macKey != nil}
	rows, err := q.Query(ctx, `SELECT c.position, c.event_id, c.tx_id::text, c.seq, c.hash, (e.id IS NOT NULL), e.mac,
		coalesce(e.id, c.event_id), coalesce(e.stream_id, ''), coalesce(e.stream_version, 0), coalesce(e.type, ''),
		coalesce(e.schema_version, 0), coalesce(e.data::text, ''), coalesce(e.metadata::text, ''),
		coalesce(e.recorded_at, 'epoch'), coalesce(e.tx_id, '0')::text, coalesce(e.seq, 0)
		FROM event_chain c LEFT JOIN events e ON e.id = c.event_id
		ORDER BY c.position`)
	if err != nil {
		return rep, fmt.Errorf("verify: %w", err)
	}
	defer rows.Close()
	prev := genesis
	var expect int64 = 1
	var last Order
	for rows.Next() {
		var (
			pos      int64
			chainID  uuid.UUID
			chainTx  string
			chainSeq int64
			hash     []byte
			present  bool
			mac      []byte
		)
		var r rawEvent
		var txText string
		if err := rows.Scan(&pos, &chainID, &chainTx, &chainSeq, &hash, &present, &mac,
			&r.id, &r.stream, &r.version, &r.typ, &r.schema, &r.data, &r.meta, &r.recorded, &txText, &r.seq); err != nil {
			return rep, fmt.Errorf("verify: %w", err)
		}
		r.txID, _ = strconv.ParseUint(txText, 10, 64)
		ct, _ := strconv.ParseUint(chainTx, 10, 64)
		fail := func(format string, args ...any) (Report, error) {
			rep.Problem = fmt.Sprintf(format, args...)
			rep.BadPosition = expect
			return rep, nil
		}
		switch {
		case pos != expect:
			return fail("position %d is missing from the chain (next present is %d)", expect, pos)
		case !present:
			return fail("the event of position %d (%s) has been deleted", pos, chainID)
		case r.txID != ct || r.seq != chainSeq:
			return fail("the event of position %d (%s) has been moved: its transaction order differs from the chain's", pos, chainID)
		case pos > 1 && !(Order{TxID: ct, Seq: chainSeq}).After(last):
			return fail("position %d is out of commit order", pos)
		}
		h := link(prev, r.encode(pos))
		if !bytes.Equal(h, hash) {
			return fail("the event of position %d (%s, stream %s version %d) does not match its hash: it or the chain was changed", pos, r.id, r.stream, r.version)
		}
		if macKey != nil && !hmac.Equal(mac, MAC(macKey, r.id, r.stream, r.typ, r.schema, r.data, r.meta, r.recorded)) {
			return fail("the event of position %d (%s) does not carry keytask's signature: it was inserted or rewritten out of band", pos, r.id)
		}
		prev, last = h, Order{TxID: ct, Seq: chainSeq}
		rep.Events = pos
		rep.Head = Head{Position: pos, Hash: h, Order: last}
		expect++
		if progress != nil && pos%1000 == 0 {
			progress(pos)
		}
	}
	if err := rows.Err(); err != nil {
		return rep, fmt.Errorf("verify: %w", err)
	}
	if rep.Events == 0 {
		rep.Head = Head{Hash: genesis}
	}
	if progress != nil {
		progress(rep.Events)
	}
	return rep, verifyUnsealed(ctx, q, macKey, &rep)
}

// verifyUnsealed checks the events the chain does not hold. Behind the head there
// must be none: the sealer never skips one, so such a row was inserted out of band.
// Past the head they are awaiting the sealer, and with the key each must carry
// keytask's MAC.
func verifyUnsealed(ctx context.Context, q Querier, macKey []byte, rep *Report) error {
	rows, err := q.Query(ctx, `SELECT e.id, e.stream_id, e.stream_version, (e.tx_id, e.seq) < ($1::text::xid8, $2),
		e.type, e.schema_version, e.data::text, e.metadata::text, e.recorded_at, e.mac
		FROM events e WHERE NOT EXISTS (SELECT 1 FROM event_chain c WHERE c.event_id = e.id)
		ORDER BY e.tx_id, e.seq`, strconv.FormatUint(rep.Head.Order.TxID, 10), rep.Head.Order.Seq)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id uuid.UUID
		var stream string
		var version int64
		var behind bool
		var typ, data, meta string
		var schema int
		var recorded time.Time
		var mac []byte
		if err := rows.Scan(&id, &stream, &version, &behind, &typ, &schema, &data, &meta, &recorded, &mac); err != nil {
			return fmt.Errorf("verify: %w", err)
		}
		switch {
		case rep.Problem != "":
		case macKey != nil && !hmac.Equal(mac, MAC(macKey, id, stream, typ, schema, data, meta, recorded)):
			rep.Problem = fmt.Sprintf("event %s (stream %s version %d) does not carry keytask's signature: it was inserted out of band", id, stream, version)
			rep.BadPosition = rep.Head.Position + 1 + rep.Pending
		case behind && rep.Head.Position > 0:
			rep.Problem = fmt.Sprintf("event %s (stream %s version %d) was inserted out of band behind the chain head", id, stream, version)
			rep.BadPosition = rep.Head.Position + 1
		default:
			rep.Pending++
		}
	}
	return rows.Err()
}

// Querier is what Verify reads with: a pool, a connection or a transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}
