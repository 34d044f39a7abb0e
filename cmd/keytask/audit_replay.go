package main

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/spf13/cobra"

	"keytask/config"
	"keytask/db"
	"keytask/events"
	"keytask/projections"
)

func newAuditReplayCmd() *cobra.Command {
	var asOf, diffTo, schema string
	var rows int
	cmd := &cobra.Command{
		Use:   "replay --as-of <RFC3339 time|position> [--diff <time|position>]",
		Short: "Rebuild every read model as it stood at a past instant, into a scratch schema",
		Long: `Replay the sealed event log up to an instant into a scratch schema, rebuilding every read model
(` + projectionNames() + `) as it stood then, and print each model's digest — comparable with the digests
` + "`keytask projections rebuild`" + ` prints — and its tables' row counts. The live read models are not touched.

An instant is a log position (the first N sealed events) or an RFC 3339 time, which means the longest
prefix of the log recorded at or before it. The scratch schema (default audit_asof; names start with
audit_) is dropped and created afresh and stays for querying with psql, so this command needs a login
that may create schemas (the one that runs migrations).

With --diff, the models are replayed to the earlier instant, copied, replayed on to the later one, and the
differences are printed as JSON: which models' digests changed and, per table, the rows added and removed
(at most --rows of each).
` + envHelp(),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if asOf == "" {
				return fmt.Errorf("--as-of is required: a log position or an RFC 3339 time")
			}
			from, err := projections.ParseAsOf(asOf)
			if err != nil {
				return fmt.Errorf("--as-of: %w", err)
			}
			var to *projections.AsOf
			if diffTo != "" {
				a, err := projections.ParseAsOf(diffTo)
				if err != nil {
					return fmt.Errorf("--diff: %w", err)
				}
				to = &a
			}
			cfg := config.FromEnv()
			ctx := cmd.Context()
			owner, err := db.OpenOwner(ctx, cfg.OwnerURL())
			if err != nil {
				return err
			}
			defer owner.Close()
			store := events.NewStore(owner)
			fromPos, err := projections.ResolveAsOf(ctx, owner, from)
			if err != nil {
				return err
			}
			c, err := owner.Acquire(ctx)
			if err != nil {
				return err
			}
			conn := c.Hijack() // its search_path is changed: it must not go back to the pool
			defer conn.Close(ctx)
			sc, err := projections.NewScratch(ctx, conn, schema, allProjections())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if to != nil {
				toPos, err := projections.ResolveAsOf(ctx, owner, *to)
				if err != nil {
					return err
				}
				if toPos < fromPos {
					fromPos, toPos = toPos, fromPos
				}
				diff, err := sc.DiffPositions(ctx, store, fromPos, toPos, rows)
				if err != nil {
					return err
				}
				enc := json.NewEncoder(out)
				enc.SetEscapeHTML(false)
				enc.SetIndent("", "  ")
				return enc.Encode(diff)
			}
			res, err := sc.ReplayTo(ctx, store, fromPos)
			if err != nil {
				return err
			}
			counts, err := sc.RowCounts(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "replayed %d events: the read models as of %s (log position %d) are in schema %s\n", res.Events, from, res.Position, schema)
			for _, p := range allProjections() {
				fmt.Fprintf(out, "%s: digest %s\n", p.Name(), res.Digests[p.Name()])
				tables := make([]string, 0, len(counts[p.Name()]))
				for t := range counts[p.Name()] {
					tables = append(tables, t)
				}
				sort.Strings(tables)
				for _, t := range tables {
					fmt.Fprintf(out, "  %s.%s: %d rows\n", schema, t, counts[p.Name()][t])
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&asOf, "as-of", "", "the instant: a log position or an RFC 3339 time (required)")
	cmd.Flags().StringVar(&diffTo, "diff", "", "a second instant: print how the read models differ between the two, as JSON")
	cmd.Flags().StringVar(&schema, "schema", "audit_asof", "the scratch schema (dropped and recreated; must start with audit_)")
	cmd.Flags().IntVar(&rows, "rows", 20, "with --diff, how many added and removed rows to show per table")
	return cmd
}
