package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"

	"keytask/config"
	"keytask/db"
	"keytask/demo"
)

// benchOptions size one run of `keytask bench`. Quick shrinks every part to a
// smoke test of the command itself; its figures mean little.
type benchOptions struct {
	Quick     bool
	ReadRate  int           // requests per second on the read endpoint (and its anchor)
	WriteRate int           // requests per second on the write endpoint (and its anchor)
	Duration  time.Duration // of each API load phase
	// Profile, when set, is a directory where the read phase's CPU profile and
	// the allocations made during it are written (read-cpu.pprof; read-allocs.pprof
	// against read-allocs-base.pprof, for go tool pprof -base).
	Profile string
	// National adds the whole national round (keytask demo --scale national)
	// on a scratch database; it takes minutes.
	National bool
}

// figure is one measured number beside its anchor, measured in the same run.
type figure struct {
	Name        string  `json:"name"`
	Value       float64 `json:"value"`
	Unit        string  `json:"unit"`
	Anchor      string  `json:"anchor"`
	AnchorValue float64 `json:"anchor_value"`
	// Ratio is value/anchor for throughputs (higher is better) and for
	// latencies and memory (lower is better); Better says which.
	Ratio  float64 `json:"ratio"`
	Better string  `json:"better"` // "higher" or "lower"
	Target string  `json:"target,omitempty"`
	Met    *bool   `json:"met,omitempty"` // whether Target holds; nil when it has none
}

type benchReport struct {
	Quick    bool      `json:"quick"`
	Started  time.Time `json:"started"`
	Seconds  float64   `json:"seconds"`
	CPUs     int       `json:"cpus"`
	Load1    float64   `json:"load1"` // the machine's load when the run began: a busy machine slows every figure
	GoVer    string    `json:"go"`
	Figures  []figure  `json:"figures"`
	Warnings []string  `json:"warnings,omitempty"`
	Notes    []string  `json:"notes,omitempty"` // what explains a figure, such as waits for a database connection
}

func newBenchCmd() *cobra.Command {
	var asJSON bool
	o := benchOptions{}
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure throughput and latency, each beside an anchor measured in the same run",
		Long: `Measure keytask on this machine and print each figure beside an anchor measured in the same run:
event append throughput against a plain INSERT (single events, batches of 100), projection rebuild in
events per second against an in-database copy, Temporal tasks per second of an intent round driven
through its updates against a bare one-activity workflow on the same embedded server, API p50 and p99
at a fixed request rate for a read and a write endpoint against /healthz at the same rate, and the
process's peak memory against its memory once everything has started.

It creates scratch databases on the configured Postgres server (KEYTASK_DATABASE_URL's server) and drops
them when done, and runs its own embedded Temporal server in memory. Other load on the machine slows
every figure; the anchors, measured in the same run, are what to compare with.
` + envHelp(),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rep, err := runBench(cmd.Context(), config.FromEnv(), o, newLogger())
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			printBench(cmd.OutOrStdout(), rep)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	cmd.Flags().BoolVar(&o.Quick, "quick", false, "a few seconds in all: checks that every part runs, measures little")
	cmd.Flags().IntVar(&o.ReadRate, "read-rate", 500, "requests per second on the read endpoint")
	cmd.Flags().IntVar(&o.WriteRate, "write-rate", 20, "requests per second on the write endpoint (each is a Temporal update)")
	cmd.Flags().DurationVar(&o.Duration, "duration", 10*time.Second, "length of each API load phase")
	cmd.Flags().BoolVar(&o.National, "national", false, "also run the whole national round (keytask demo --scale national, a few minutes) and report its wall time")
	cmd.Flags().StringVar(&o.Profile, "profile", "", "directory to write CPU and allocation profiles of the API read phase to")
	return cmd
}

func runBench(ctx context.Context, cfg config.Config, o benchOptions, log *slog.Logger) (benchReport, error) {
	if o.ReadRate <= 0 || o.WriteRate <= 0 || o.Duration <= 0 {
		return benchReport{}, fmt.Errorf("--read-rate, --write-rate and --duration must be positive")
	}
	if o.Quick {
		o.ReadRate, o.WriteRate, o.Duration = min(o.ReadRate, 100), min(o.WriteRate, 10), min(o.Duration, time.Second)
	}
	rep := benchReport{Quick: o.Quick, Started: time.Now().UTC(), CPUs: runtime.NumCPU(), Load1: load1(), GoVer: runtime.Version()}
	add := func(fs ...figure) {
		for _, f := range fs {
			rep.Figures = append(rep.Figures, f.withRatio())
		}
	}
	began := time.Now()

	// The log's figures run on a database of their own, so that no projector or
	// workflow competes with them and their events do not feed the platform.
	logDB, dropLog, err := scratchDatabase(ctx, cfg.DatabaseURL)
	if err != nil {
		return rep, err
	}
	defer dropLog()
	fs, err := benchLog(ctx, logDB, o)
	if err != nil {
		return rep, fmt.Errorf("event log: %w", err)
	}
	add(fs...)

	platDB, dropPlat, err := scratchDatabase(ctx, cfg.DatabaseURL)
	if err != nil {
		return rep, err
	}
	defer dropPlat()
	fs, warns, notes, err := benchPlatform(ctx, cfg, platDB, o, log)
	rep.Warnings, rep.Notes = append(rep.Warnings, warns...), append(rep.Notes, notes...)
	if err != nil {
		return rep, err
	}
	add(fs...)
	if o.National && !o.Quick {
		f, note, err := benchNational(ctx, cfg)
		if err != nil {
			return rep, fmt.Errorf("national round: %w", err)
		}
		add(f)
		rep.Notes = append(rep.Notes, note)
	}
	rep.Seconds = time.Since(began).Seconds()
	return rep, nil
}

// benchNational runs the national demo round through the API and workflows on
// a scratch database of its own, after every other figure (its memory does not
// count toward theirs), and reports its wall time beside the five-minute target,
// since nothing else in the run does the same work.
func benchNational(ctx context.Context, cfg config.Config) (figure, string, error) {
	u, drop, err := scratchDatabase(ctx, cfg.DatabaseURL)
	if err != nil {
		return figure{}, "", err
	}
	defer drop()
	cmd := &cobra.Command{}
	cmd.SetOut(io.Discard)
	res, err := runDemo(ctx, cmd, demoOptions{scale: "national", databaseURL: u, httpAddr: "127.0.0.1:0", workers: 8})
	if err != nil {
		return figure{}, "", err
	}
	secs := res.Total.Seconds()
	f := figure{Name: "national round (keytask demo --scale national: intents, 6 batches to publication, 3 collections)",
		Value: secs, Unit: "s", Anchor: "the 5-minute target (not measured)", AnchorValue: 300, Better: "lower",
		Target: "≤ 300 s", Met: met(secs <= 300)}
	note := fmt.Sprintf("national round: %d API requests, %d projects published, largest projector backlog %d events",
		res.Requests, sumPublished(res), res.MaxLag)
	return f, note, nil
}

func sumPublished(res demo.Result) int {
	n := 0
	for _, b := range res.Batches {
		n += b.Published
	}
	return n
}

func (f figure) withRatio() figure {
	if f.AnchorValue != 0 {
		f.Ratio = f.Value / f.AnchorValue
	}
	return f
}

// met records whether a target holds.
func met(ok bool) *bool { return &ok }

// scratchDatabase creates and migrates a database of its own on the server of
// serverURL and returns its URL and a function that drops it.
func scratchDatabase(ctx context.Context, serverURL string) (string, func(), error) {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	name := "keytask_bench_" + hex.EncodeToString(b)
	admin := adminURL(serverURL)
	c, err := pgx.Connect(ctx, admin)
	if err != nil {
		return "", nil, fmt.Errorf("connect to %s: %w", redact(admin), err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", nil, fmt.Errorf("create scratch database: %w", err)
	}
	u, err := url.Parse(serverURL)
	if err != nil {
		return "", nil, err
	}
	u.Path = "/" + name
	drop := func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if c, err := pgx.Connect(dctx, admin); err == nil {
			_, _ = c.Exec(dctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			_ = c.Close(dctx)
		}
	}
	owner, err := db.OpenOwner(ctx, u.String())
	if err == nil {
		_, err = db.Migrate(ctx, owner)
		owner.Close()
	}
	if err != nil {
		drop()
		return "", nil, fmt.Errorf("migrate scratch database: %w", err)
	}
	return u.String(), drop, nil
}

// load1 is the one-minute load average, or 0 where /proc is not there.
func load1() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f, _ := strconv.ParseFloat(strings.Fields(string(b))[0], 64)
	return f
}

// memoryKB reads the process's resident set (VmRSS) and its peak (VmHWM).
func memoryKB() (rss, peak float64) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return float64(m.Sys) / 1024, float64(m.Sys) / 1024
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
		switch k {
		case "VmRSS":
			rss = n
		case "VmHWM":
			peak = n
		}
	}
	return rss, peak
}

func printBench(w io.Writer, rep benchReport) {
	mode := "full"
	if rep.Quick {
		mode = "quick (smoke test; the figures mean little)"
	}
	fmt.Fprintf(w, "keytask bench — %s run, %d CPUs, load %.2f at start, %s, %.0f s\n\n", mode, rep.CPUs, rep.Load1, rep.GoVer, rep.Seconds)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\tvalue\tunit\tanchor\tanchor value\tratio\ttarget\tmet")
	for _, f := range rep.Figures {
		m := ""
		if f.Met != nil {
			m = map[bool]string{true: "yes", false: "NO"}[*f.Met]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%.2f (%s is better)\t%s\t%s\n", f.Name, num(f.Value), f.Unit, f.Anchor, num(f.AnchorValue), f.Ratio, f.Better, f.Target, m)
	}
	_ = tw.Flush()
	for _, note := range rep.Notes {
		fmt.Fprintln(w, "note:", note)
	}
	for _, warn := range rep.Warnings {
		fmt.Fprintln(w, "warning:", warn)
	}
}

func num(v float64) string {
	if v >= 100 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}
