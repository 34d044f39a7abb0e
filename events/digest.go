package events

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// DigestFormat names the layout of a signed digest, so that a future layout
// cannot be mistaken for this one.
const DigestFormat = "keytask-log-digest/1"

// Digest is a signed statement of the sealed log's head: "at IssuedAt the chain
// ended at Position with Hash". An auditor keeps digests away from the platform;
// later, VerifyDigest proves that the log still begins with exactly that history.
// Because the hash at Position covers every event before it, no event at or
// behind it can be changed, removed, reordered or inserted — even by someone who
// recomputes the whole chain — without the digest noticing. The signature lets
// anyone holding the public key check that the digest itself was issued by the
// platform and not edited.
type Digest struct {
	Format    string    `json:"format"`
	Position  int64     `json:"position"`
	Hash      string    `json:"hash"` // hex SHA-256 chain hash at Position
	IssuedAt  time.Time `json:"issued_at"`
	PublicKey string    `json:"public_key"` // hex Ed25519 public key that signed it
	Signature string    `json:"signature"`  // hex Ed25519 signature of Message()
}

// Message is the exact byte string that is signed: every field but the
// signature and the public key, in a fixed text layout.
func (d Digest) Message() []byte {
	return fmt.Appendf(nil, "%s\nposition=%d\nhash=%s\nissued_at=%s\n",
		DigestFormat, d.Position, d.Hash, d.IssuedAt.UTC().Format(time.RFC3339Nano))
}

// SignDigest returns the signed digest of head.
func SignDigest(key ed25519.PrivateKey, head Head, now time.Time) Digest {
	d := Digest{
		Format:    DigestFormat,
		Position:  head.Position,
		Hash:      hex.EncodeToString(head.Hash),
		IssuedAt:  now.UTC().Truncate(time.Microsecond),
		PublicKey: hex.EncodeToString(key.Public().(ed25519.PublicKey)),
	}
	d.Signature = hex.EncodeToString(ed25519.Sign(key, d.Message()))
	return d
}

// ErrDigestSignature is returned by CheckSignature for a digest that was not
// signed by the expected key or was edited after signing.
var ErrDigestSignature = errors.New("digest signature does not verify")

// CheckSignature checks that d is well formed and signed by pub. With pub nil
// the digest's own public key is used, which proves only that the digest was not
// edited, not who issued it.
func (d Digest) CheckSignature(pub ed25519.PublicKey) error {
	if d.Format != DigestFormat {
		return fmt.Errorf("digest format %q, want %q", d.Format, DigestFormat)
	}
	if d.Position < 0 {
		return fmt.Errorf("digest position %d is negative", d.Position)
	}
	if h, err := hex.DecodeString(d.Hash); err != nil || len(h) != 32 {
		return fmt.Errorf("digest hash %q is not a hex SHA-256", d.Hash)
	}
	own, err := hex.DecodeString(d.PublicKey)
	if err != nil || len(own) != ed25519.PublicKeySize {
		return fmt.Errorf("digest public key %q is not a hex Ed25519 key", d.PublicKey)
	}
	if pub == nil {
		pub = own
	} else if !bytes.Equal(pub, own) {
		return fmt.Errorf("%w: it names public key %s, expected %s", ErrDigestSignature, d.PublicKey, hex.EncodeToString(pub))
	}
	sig, err := hex.DecodeString(d.Signature)
	if err != nil || !ed25519.Verify(pub, d.Message(), sig) {
		return fmt.Errorf("%w: the digest was edited or signed by another key", ErrDigestSignature)
	}
	return nil
}

// DigestReport is the outcome of checking the log against a digest.
type DigestReport struct {
	Log Report // the walk of the whole log
	// Problem is empty when the log extends the digest unchanged.
	Problem string
	// Covered reports whether the failure lies inside the history the digest
	// covers (at or before its position), as opposed to after it.
	Covered bool
}

// OK reports whether the log extends the digest unchanged and is intact after it.
func (r DigestReport) OK() bool { return r.Problem == "" }

// VerifyDigest proves that the log read through q extends d unchanged: the
// whole log verifies (chain and, given macKey, signatures), it reaches d's
// position, and the chain hash recomputed at that position equals d's. q should
// be one repeatable-read snapshot. The digest's own signature is checked
// separately (CheckSignature).
func VerifyDigest(ctx context.Context, q Querier, macKey []byte, d Digest) (DigestReport, error) {
	want, err := hex.DecodeString(d.Hash)
	if err != nil || len(want) != 32 {
		return DigestReport{}, fmt.Errorf("digest hash %q is not a hex SHA-256", d.Hash)
	}
	rep, err := Verify(ctx, q, macKey, nil)
	if err != nil {
		return DigestReport{Log: rep}, err
	}
	// Verify recomputed every hash up to the first problem and found each equal
	// to the stored one, so when the problem (if any) lies after the digest's
	// position, the stored hash there is the recomputed one.
	var at []byte
	var behind int64
	switch {
	case d.Position == 0:
		at = genesis
	case d.Position <= rep.Head.Position:
		// An unsealed row ordered before the digest's head was slipped in behind
		// it: the sealer never leaves one there.
		rows, err := q.Query(ctx, `SELECT c.hash, (SELECT count(*) FROM events e
			WHERE (e.tx_id, e.seq) < (c.tx_id, c.seq) AND NOT EXISTS (SELECT 1 FROM event_chain x WHERE x.event_id = e.id))
			FROM event_chain c WHERE c.position = $1`, d.Position)
		if err != nil {
			return DigestReport{Log: rep}, fmt.Errorf("verify digest: %w", err)
		}
		for rows.Next() {
			if err := rows.Scan(&at, &behind); err != nil {
				rows.Close()
				return DigestReport{Log: rep}, fmt.Errorf("verify digest: %w", err)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return DigestReport{Log: rep}, fmt.Errorf("verify digest: %w", err)
		}
	}
	out := DigestReport{Log: rep}
	switch {
	case !rep.OK() && rep.BadPosition <= d.Position:
		out.Covered = true
		out.Problem = fmt.Sprintf("the history the digest covers was changed: first bad position %d: %s", rep.BadPosition, rep.Problem)
	case at == nil:
		out.Covered = true
		out.Problem = fmt.Sprintf("the log ends at position %d, before the digest's position %d: events were removed", rep.Head.Position, d.Position)
	case behind > 0:
		out.Covered = true
		out.Problem = fmt.Sprintf("%d events were inserted out of band behind the digest's position %d", behind, d.Position)
	case !bytes.Equal(at, want):
		out.Covered = true
		out.Problem = fmt.Sprintf("the chain hash at position %d is %s, the digest says %s: events at or before it were changed, removed, reordered or inserted",
			d.Position, hex.EncodeToString(at), d.Hash)
	case !rep.OK():
		out.Problem = fmt.Sprintf("the history up to the digest is intact, but after it: first bad position %d: %s", rep.BadPosition, rep.Problem)
	}
	return out, nil
}
