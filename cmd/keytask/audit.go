package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"

	"keytask/config"
	"keytask/db"
	"keytask/events"
)

func newAuditCmd() *cobra.Command {
	audit := &cobra.Command{Use: "audit", Short: "Audit the event log: verify it, sign digests, replay history"}
	audit.AddCommand(newAuditVerifyCmd(), newAuditDigestCmd())
	audit.AddCommand(auditSubcommands()...)
	return audit
}

// auditSubcommands are the audit commands beyond verify and digest.
func auditSubcommands() []*cobra.Command {
	return []*cobra.Command{newAuditReplayCmd(), newAuditHistoryCmd(), newAuditExplainCmd()}
}

// inSnapshot runs f on one read-only repeatable-read snapshot of the database, so
// that a concurrent append cannot make the passes of a walk disagree.
func inSnapshot(ctx context.Context, cfg config.Config, f func(tx pgx.Tx) error) error {
	pool, err := db.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	return pgx.BeginTxFunc(ctx, pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, f)
}

func newAuditVerifyCmd() *cobra.Command {
	var digestFile, publicKey string
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Walk the whole log and check its hash chain (and that it extends a signed digest)",
		Long: `Walk the event log from position 1, recompute every hash of the chain from the stored events and,
with the log key (KEYTASK_LOG_KEY or the data dir's log-key), check every event's signature, which
catches rows inserted directly into the database even before they are sealed. Exits 0 printing the count and the
head hash when the log is intact; exits 2 naming the first bad position when any row was changed,
deleted, inserted out of band or reordered.

With --digest FILE (written earlier by ` + "`keytask audit digest`" + `), it also proves that the log still
begins with exactly the history the digest signed: the digest's signature must verify under the trusted
public key (--public-key, KEYTASK_DIGEST_PUBLIC_KEY, or the public half of the configured digest key),
and the chain hash recomputed at the digest's position must equal the digest's. This catches tampering
at or behind the digest's head even by someone who recomputed the whole chain. Exits 3 when the digest
itself is invalid, 2 when the log does not extend it unchanged.
` + envHelp(),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := config.FromEnv()
			ctx := cmd.Context()
			out := cmd.OutOrStdout()
			key, err := loadLogKey(cfg, false)
			if err != nil {
				return err
			}
			var dg *events.Digest
			if digestFile != "" {
				d, err := readDigest(digestFile)
				if err != nil {
					return err
				}
				pub, from, err := trustedDigestKey(cfg, publicKey)
				if err != nil {
					return err
				}
				if err := d.CheckSignature(pub); err != nil {
					fmt.Fprintf(out, "INVALID DIGEST %s: %v\n", digestFile, err)
					return exitError{3}
				}
				if pub == nil {
					fmt.Fprintln(out, "WARNING: no trusted public key (--public-key or "+digestPublicKeyEnv+"): the digest's own key was used, which proves it unedited but not who issued it")
				} else {
					fmt.Fprintf(out, "digest signature verified with %s\n", from)
				}
				dg = &d
			}
			return inSnapshot(ctx, cfg, func(tx pgx.Tx) error {
				var rep events.Report
				if dg != nil {
					drep, err := events.VerifyDigest(ctx, tx, key, *dg)
					if err != nil {
						return err
					}
					rep = drep.Log
					if !drep.OK() {
						fmt.Fprintf(out, "TAMPERED: the log does not extend the digest of position %d issued %s unchanged: %s\n",
							dg.Position, dg.IssuedAt.Format(time.RFC3339), drep.Problem)
						return exitError{2}
					}
				} else {
					var err error
					if rep, err = events.Verify(ctx, tx, key, nil); err != nil {
						return err
					}
					if !rep.OK() {
						fmt.Fprintf(out, "TAMPERED: first bad position %d: %s\n", rep.BadPosition, rep.Problem)
						fmt.Fprintf(out, "verified %d events before it\n", rep.Events)
						return exitError{2}
					}
				}
				fmt.Fprintf(out, "OK: %d events verified, head position %d, head hash %s\n", rep.Events, rep.Head.Position, rep.HeadHex())
				if dg != nil {
					fmt.Fprintf(out, "the log extends the digest of position %d (hash %s, issued %s) unchanged\n",
						dg.Position, dg.Hash, dg.IssuedAt.Format(time.RFC3339))
				}
				if rep.MACsChecked {
					fmt.Fprintln(out, "every event carries keytask's signature")
				} else {
					fmt.Fprintln(out, "WARNING: no log key (KEYTASK_LOG_KEY or the data dir's log-key): signatures not checked, so rows inserted at the head would go unnoticed")
				}
				if rep.Pending > 0 {
					fmt.Fprintf(out, "%d newer events are committed and awaiting sealing\n", rep.Pending)
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&digestFile, "digest", "", "a digest file written by `keytask audit digest`; prove the log extends it unchanged")
	cmd.Flags().StringVar(&publicKey, "public-key", "", "hex Ed25519 public key the digest must be signed with (default: "+digestPublicKeyEnv+" or the configured digest key)")
	return cmd
}

func readDigest(path string) (events.Digest, error) {
	var d events.Digest
	b, err := os.ReadFile(path)
	if err != nil {
		return d, fmt.Errorf("read digest: %w", err)
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return d, fmt.Errorf("digest %s is not a keytask digest: %w", path, err)
	}
	return d, nil
}

func newAuditDigestCmd() *cobra.Command {
	var outFile string
	cmd := &cobra.Command{
		Use:   "digest",
		Short: "Print a signed (Ed25519) digest of the sealed log head",
		Long: `Verify the log, then print a digest of its sealed head — position and chain hash — signed with the
digest key (` + digestKeyEnv + `, a hex Ed25519 seed, or the data dir's digest-key, which is generated on
first use when neither exists). Keep digests away from the platform; later
` + "`keytask audit verify --digest FILE`" + ` proves that the log still extends each one unchanged. Give auditors
the public key printed with the digest. Refuses (exit 2) to sign a log that does not verify.
` + envHelp(),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := config.FromEnv()
			ctx := cmd.Context()
			key, created, err := loadDigestKey(cfg, true)
			if err != nil {
				return err
			}
			if created {
				fmt.Fprintf(cmd.ErrOrStderr(), "generated a digest signing key in %s/%s\n", cfg.DataDir, digestKeyFile)
			}
			logKey, err := loadLogKey(cfg, false)
			if err != nil {
				return err
			}
			var dg events.Digest
			err = inSnapshot(ctx, cfg, func(tx pgx.Tx) error {
				rep, err := events.Verify(ctx, tx, logKey, nil)
				if err != nil {
					return err
				}
				if !rep.OK() {
					fmt.Fprintf(cmd.OutOrStdout(), "TAMPERED: first bad position %d: %s\nno digest signed\n", rep.BadPosition, rep.Problem)
					return exitError{2}
				}
				// Verify recomputed the head from the events, so the digest
				// signs what the log holds, not merely what the chain table says.
				dg = events.SignDigest(key, rep.Head, time.Now())
				return nil
			})
			if err != nil {
				return err
			}
			b, err := json.MarshalIndent(dg, "", "  ")
			if err != nil {
				return err
			}
			b = append(b, '\n')
			var w io.Writer = cmd.OutOrStdout()
			if outFile != "" {
				if err := os.WriteFile(outFile, b, 0o644); err != nil {
					return fmt.Errorf("write digest: %w", err)
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "digest of position %d written to %s (public key %s)\n", dg.Position, outFile, dg.PublicKey)
				return nil
			}
			_, err = w.Write(b)
			return err
		},
	}
	cmd.Flags().StringVarP(&outFile, "out", "o", "", "write the digest to this file instead of standard output")
	return cmd
}
