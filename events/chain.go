package events

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// sealLock is the advisory lock that makes one sealer at a time extend the chain.
const sealLock = 7_462_012

// sealBatch bounds one sealing transaction, so it stays short: an open
// transaction holds back every reader that waits for the snapshot horizon.
const sealBatch = 2000

// canonical is the byte encoding of an event that the hash chain covers: every
// field length-prefixed, JSON as Postgres' jsonb renders it, time in microseconds.
// It is computed from the stored row, so sealing and verifying agree byte for byte.
func canonical(position int64, id uuid.UUID, stream string, version int64, typ string, schema int,
	data, meta string, recorded time.Time, txID uint64, seq int64) []byte {
	b := make([]byte, 0, 128+len(stream)+len(typ)+len(data)+len(meta))
	b = binary.BigEndian.AppendUint64(b, uint64(position))
	b = append(b, id[:]...)
	b = appendString(b, stream)
	b = binary.BigEndian.AppendUint64(b, uint64(version))
	b = appendString(b, typ)
	b = binary.BigEndian.AppendUint32(b, uint32(schema))
	b = appendString(b, data)
	b = appendString(b, meta)
	b = binary.BigEndian.AppendUint64(b, uint64(recorded.UnixMicro()))
	b = binary.BigEndian.AppendUint64(b, txID)
	b = binary.BigEndian.AppendUint64(b, uint64(seq))
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// MAC is the HMAC-SHA-256 of an event's content under the platform's log key.
// The hash chain proves that sealed history was not changed; the MAC proves that
// each row was written by keytask itself, so a row inserted directly into the
// database — even at the head, before it is sealed — is caught by whoever holds
// the key. The stream version is left out because an append may learn it only
// in the database; the chain covers it.
func MAC(key []byte, id uuid.UUID, stream, typ string, schema int, data, meta string, recorded time.Time) []byte {
	m := hmac.New(sha256.New, key)
	b := make([]byte, 0, 96+len(stream)+len(typ)+len(data)+len(meta))
	b = append(b, id[:]...)
	b = appendString(b, stream)
	b = appendString(b, typ)
	b = binary.BigEndian.AppendUint32(b, uint32(schema))
	b = appendString(b, data)
	b = appendString(b, meta)
	b = binary.BigEndian.AppendUint64(b, uint64(recorded.UnixMicro()))
	m.Write(b)
	return m.Sum(nil)
}

// link returns the chain hash of an event given the hash before it.
func link(prev []byte, enc []byte) []byte {
	h := sha256.New()
	h.Write(prev)
	h.Write(enc)
	return h.Sum(nil)
}

// genesis is the hash before the first event.
var genesis = make([]byte, 32)

// rawColumns select what canonical needs, in its order.
const rawColumns = `e.id, e.stream_id, e.stream_version, e.type, e.schema_version, e.data::text, e.metadata::text,
	e.recorded_at, e.tx_id::text, e.seq`

type rawEvent struct {
	id       uuid.UUID
	stream   string
	version  int64
	typ      string
	schema   int
	data     string
	meta     string
	recorded time.Time
	txID     uint64
	seq      int64
}

func scanRaw(row pgx.Row, extra ...any) (rawEvent, error) {
	var r rawEvent
	var txText string
	dest := append([]any{&r.id, &r.stream, &r.version, &r.typ, &r.schema, &r.data, &r.meta, &r.recorded, &txText, &r.seq}, extra...)
	if err := row.Scan(dest...); err != nil {
		return r, err
	}
	tx, err := strconv.ParseUint(txText, 10, 64)
	r.txID = tx
	return r, err
}

func (r rawEvent) encode(position int64) []byte {
	return canonical(position, r.id, r.stream, r.version, r.typ, r.schema, r.data, r.meta, r.recorded, r.txID, r.seq)
}

// Head is the end of the hash chain.
type Head struct {
	Position int64
	Hash     []byte
	Order    Order
}

// Head returns the last sealed position and its hash (position 0 and the genesis
// hash for an empty log).
func (s *Store) Head(ctx context.Context) (Head, error) {
	return head(ctx, s.pool)
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func head(ctx context.Context, q querier) (Head, error) {
	h := Head{Hash: genesis}
	var txText string
	err := q.QueryRow(ctx, `SELECT position, hash, tx_id::text, seq FROM event_chain ORDER BY position DESC LIMIT 1`).
		Scan(&h.Position, &h.Hash, &txText, &h.Order.Seq)
	if err == pgx.ErrNoRows {
		return Head{Hash: genesis}, nil
	}
	if err != nil {
		return h, fmt.Errorf("read chain head: %w", err)
	}
	h.Order.TxID, err = strconv.ParseUint(txText, 10, 64)
	return h, err
}

// Seal links every committed, unsealed event into the hash chain, in commit-safe
// order, and returns how many it linked. Only one sealer works at a time; a call
// that finds another at work returns 0 at once.
func (s *Store) Seal(ctx context.Context) (int, error) {
	total := 0
	for {
		n, err := s.sealBatch(ctx)
		total += n
		if err != nil {
			return total, fmt.Errorf("seal: %w", err)
		}
		if n < sealBatch {
			return total, nil
		}
	}
}

func (s *Store) sealBatch(ctx context.Context) (int, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck
	var locked bool
	if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1)`, sealLock).Scan(&locked); err != nil {
		return 0, err
	}
	if !locked {
		return 0, nil
	}
	h, err := head(ctx, tx)
	if err != nil {
		return 0, err
	}
	// Only transactions older than every open one: an open transaction may still
	// commit events that belong before anything it has not finished.
	rows, err := tx.Query(ctx, `SELECT `+rawColumns+` FROM events e
		WHERE (e.tx_id, e.seq) > ($1::text::xid8, $2) AND e.tx_id < pg_snapshot_xmin(pg_current_snapshot())
		ORDER BY e.tx_id, e.seq LIMIT $3`, strconv.FormatUint(h.Order.TxID, 10), h.Order.Seq, sealBatch)
	if err != nil {
		return 0, err
	}
	var (
		positions []int64
		ids       []uuid.UUID
		txs       []string
		seqs      []int64
		hashes    [][]byte
	)
	prev, pos := h.Hash, h.Position
	for rows.Next() {
		r, err := scanRaw(rows)
		if err != nil {
			rows.Close()
			return 0, err
		}
		pos++
		prev = link(prev, r.encode(pos))
		positions = append(positions, pos)
		ids = append(ids, r.id)
		txs = append(txs, strconv.FormatUint(r.txID, 10))
		seqs = append(seqs, r.seq)
		hashes = append(hashes, prev)
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	if len(ids) == 0 {
		return 0, nil
	}
	if _, err := tx.Exec(ctx, `INSERT INTO event_chain (position, event_id, tx_id, seq, hash)
		SELECT p, id, t::xid8, s, h FROM unnest($1::bigint[], $2::uuid[], $3::text[], $4::bigint[], $5::bytea[]) AS u(p, id, t, s, h)`,
		positions, ids, txs, seqs, hashes); err != nil {
		return 0, err
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, err
	}
	s.sealed.Add(float64(len(ids)))
	return len(ids), nil
}

// SealCommitted seals until every event committed before the call is in the
// chain. Sealing never passes an open transaction anywhere on the Postgres
// server (transaction ids are cluster-wide), so this may have to wait for
// unrelated transactions to end; ctx bounds the wait.
func (s *Store) SealCommitted(ctx context.Context) error {
	var maxSeq int64
	if err := s.pool.QueryRow(ctx, `SELECT coalesce(max(seq), 0) FROM events`).Scan(&maxSeq); err != nil {
		return fmt.Errorf("seal: %w", err)
	}
	for {
		if _, err := s.Seal(ctx); err != nil {
			return err
		}
		var pending bool
		if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM events e WHERE e.seq <= $1
			AND NOT EXISTS (SELECT 1 FROM event_chain c WHERE c.event_id = e.id))`, maxSeq).Scan(&pending); err != nil {
			return fmt.Errorf("seal: %w", err)
		}
		if !pending {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("seal: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// RunSealer seals every interval until ctx ends. Every long-running keytask
// process runs one; the advisory lock keeps them from racing.
func (s *Store) RunSealer(ctx context.Context, interval time.Duration, logf func(string, ...any)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := s.Seal(ctx); err != nil && ctx.Err() == nil && logf != nil {
			logf("sealer: %v", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
