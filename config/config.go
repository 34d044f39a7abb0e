// Package config reads keytask's configuration from the environment. Every
// setting has a default that works on a developer's machine.
package config

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Config is keytask's runtime configuration.
type Config struct {
	// DatabaseURL is the Postgres database keytask keeps its log and read models in.
	DatabaseURL string
	// DatabaseURLSet reports whether KEYTASK_DATABASE_URL was given; when it was
	// not, `keytask dev` may start a private Postgres cluster.
	DatabaseURLSet bool
	// MigrateDatabaseURL is the same database logged into as the schema's
	// owner, for migrations and scratch schemas; empty means DatabaseURL (see
	// OwnerURL). Every other process logs in with DatabaseURL's role, which
	// holds only the writer role's privileges.
	MigrateDatabaseURL string
	// TemporalAddress is an external Temporal frontend; empty means `keytask dev`
	// runs an embedded server.
	TemporalAddress string
	// TemporalNamespace is the namespace keytask's workflows run in.
	TemporalNamespace string
	// HTTPAddr is where the web pages, API, health checks and metrics listen.
	HTTPAddr string
	// DataDir holds the embedded Temporal server's database, a private Postgres
	// cluster when one is started, and the first administrator's token.
	DataDir string
	// TemporalUIAddr is where `keytask dev` serves the Temporal Web UI.
	TemporalUIAddr string
	// TemporalEmbeddedAddr is where `keytask dev`'s embedded frontend listens.
	TemporalEmbeddedAddr string
	// LogKey (hex) signs every appended event; empty means the key file in DataDir.
	LogKey string
	// Collection is the yearly performance collection's schedule, as the
	// environment spells it; see CollectionSchedule.
	Collection CollectionEnv
	// SMTPAddr is the mail relay (host:port) notifications are sent through;
	// empty means mail is written as .eml files under DataDir/mail instead.
	SMTPAddr string
	// Mailer is "smtp", "files" or empty (smtp when SMTPAddr is set). Outside
	// `dev` the file mailer must be named, so a deployment that forgot its relay
	// does not mark mail sent into a pod's scratch volume.
	Mailer string
	// SMTPFrom is the sender of notification mail.
	SMTPFrom string
	// SMTPUsername and SMTPPassword authenticate to the relay (PLAIN) when set.
	SMTPUsername string
	SMTPPassword string
	// SMTPSecurity is "starttls" (required), "tls" (implicit) or "none".
	SMTPSecurity string
	// WorkerStopTimeout is how long a stopping worker lets the activities it
	// runs finish before cancelling them, as the environment spells it (a Go
	// duration); see StopTimeout.
	WorkerStopTimeout string
	// Holidays is an operator's holiday file (CSV like the embedded
	// holidays-cn.csv) merged with the embedded arrangements by every process
	// that counts public notices; empty means the embedded ones alone.
	Holidays string
	// MetricsAddr is where `serve`, `worker` and `projector` serve /metrics and
	// /healthz, an address inside the cluster; empty serves nothing there and
	// leaves `serve` (and `dev`) with /metrics on HTTPAddr.
	MetricsAddr string
	// PayloadKey (hex, 32 bytes) seals every Temporal payload; empty means the
	// data dir's payload-key, which `dev` generates. Every process holds the same.
	PayloadKey string
	// SecureCookies marks the session cookie Secure and sends HSTS even when
	// requests arrive over plain HTTP: for a server behind a TLS proxy.
	SecureCookies bool
	// DigestKey (a hex Ed25519 seed) signs log digests; empty means the
	// digest-key file in DataDir. It is apart from LogKey: auditors need only
	// its public half, DigestPublicKey.
	DigestKey string
	// DigestPublicKey (hex) is the key `audit verify --digest` requires a digest
	// to be signed with; empty means the public half of DigestKey.
	DigestPublicKey string
}

// Setting documents one environment variable.
type Setting struct {
	Env, Default, Meaning string
}

// Settings lists every environment variable keytask reads, for --help and the README.
var Settings = []Setting{
	{"KEYTASK_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/keytask?sslmode=disable", "Postgres database (created by `dev` if missing)"},
	{"KEYTASK_MIGRATE_DATABASE_URL", "(empty: KEYTASK_DATABASE_URL)", "the same database as its owner role, for `migrate` and `audit replay --schema`; KEYTASK_DATABASE_URL then names the runtime login role, which holds only keytask_writer's privileges"},
	{"KEYTASK_TEMPORAL_ADDRESS", "(empty: `dev` embeds a server; other commands use 127.0.0.1:7233)", "external Temporal frontend host:port"},
	{"KEYTASK_TEMPORAL_NAMESPACE", "default", "Temporal namespace"},
	{"KEYTASK_HTTP_ADDR", "127.0.0.1:8080", "HTTP listen address (pages, API, /healthz, /readyz, /metrics)"},
	{"KEYTASK_DATA_DIR", ".keytask", "data directory (embedded Temporal's SQLite file, private Postgres, admin token)"},
	{"KEYTASK_TEMPORAL_UI_ADDR", "127.0.0.1:8233", "where `dev` serves the Temporal Web UI"},
	{"KEYTASK_TEMPORAL_EMBEDDED_ADDR", "127.0.0.1:7233", "where `dev`'s embedded Temporal frontend listens"},
	{"KEYTASK_SMTP_ADDR", "(empty: mail is written to <data dir>/mail as .eml files)", "SMTP relay host:port for notification mail"},
	{"KEYTASK_MAILER", "(empty: smtp when KEYTASK_SMTP_ADDR is set; only `dev` falls back to files)", "notification mail transport: smtp, or files (.eml under <data dir>/mail; outside `dev` it must be named)"},
	{"KEYTASK_SMTP_FROM", "全国技工教育重点任务管理平台 <noreply@keytask.localhost>", "sender of notification mail"},
	{"KEYTASK_SMTP_USERNAME", "(empty: no authentication)", "SMTP username (AUTH PLAIN)"},
	{"KEYTASK_SMTP_PASSWORD", "(empty)", "SMTP password"},
	{"KEYTASK_SMTP_SECURITY", "starttls", "SMTP connection security: starttls (required), tls (implicit, port 465) or none"},
	{"KEYTASK_LOG_KEY", "(empty: the file log-key in the data dir, created by `dev`)", "hex key (32+ bytes) that signs every event; `audit verify` needs it to catch rows inserted out of band"},
	{"KEYTASK_COLLECTION_AT", "12-01 09:00", "when each year's performance collection starts (MM-DD HH:MM, Asia/Shanghai); `off` creates no schedule"},
	{"KEYTASK_COLLECTION_DEADLINE_AFTER", "30d", "from the start to the reports' deadline (days as `30d`, or a Go duration)"},
	{"KEYTASK_COLLECTION_REMINDERS", "14d,7d,3d,1d", "reminders to schools that have not submitted, before the deadline"},
	{"KEYTASK_COLLECTION_CLOSE_AFTER", "30d", "from the deadline to the collection's close and summary"},
	{"KEYTASK_WORKER_STOP_TIMEOUT", "50s", "how long a stopping worker lets its running activities finish (a Go duration; keep it below the orchestrator's grace period)"},
	{"KEYTASK_HOLIDAYS", "(empty: only the embedded 2022–2026 arrangements)", "CSV file (date,kind,name) of further years' official holiday arrangements, merged with the embedded ones at startup"},
	{"KEYTASK_METRICS_ADDR", "(empty: off; `serve` keeps /metrics on its HTTP address)", "internal address where `serve`, `worker` and `projector` serve /metrics and /healthz; set, `serve` no longer answers /metrics on its HTTP address"},
	{"KEYTASK_PAYLOAD_KEY", "(empty: the file payload-key in the data dir, generated by `dev`)", "hex AES-256 key (64 hex digits) that encrypts every Temporal payload; the same in every process and for the codec endpoint"},
	{"KEYTASK_SECURE_COOKIES", "false", "`true` behind a proxy that terminates TLS: the session cookie is Secure and pages send Strict-Transport-Security"},
	{"KEYTASK_DIGEST_KEY", "(empty: the file digest-key in the data dir, generated on first use)", "hex Ed25519 seed that signs log digests"},
	{"KEYTASK_DIGEST_PUBLIC_KEY", "(empty: the public half of the digest key)", "hex Ed25519 public key `audit verify --digest` requires a digest to be signed with"},
}

func env(name, def string) (string, bool) {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v, true
	}
	return def, false
}

// FromEnv reads the configuration from the environment.
func FromEnv() Config {
	var c Config
	c.DatabaseURL, c.DatabaseURLSet = env("KEYTASK_DATABASE_URL", Settings[0].Default)
	c.MigrateDatabaseURL, _ = env("KEYTASK_MIGRATE_DATABASE_URL", "")
	c.TemporalAddress, _ = env("KEYTASK_TEMPORAL_ADDRESS", "")
	c.TemporalNamespace, _ = env("KEYTASK_TEMPORAL_NAMESPACE", "default")
	c.HTTPAddr, _ = env("KEYTASK_HTTP_ADDR", "127.0.0.1:8080")
	dir, _ := env("KEYTASK_DATA_DIR", ".keytask")
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	c.DataDir = dir
	c.TemporalUIAddr, _ = env("KEYTASK_TEMPORAL_UI_ADDR", "127.0.0.1:8233")
	c.TemporalEmbeddedAddr, _ = env("KEYTASK_TEMPORAL_EMBEDDED_ADDR", "127.0.0.1:7233")
	c.LogKey, _ = env("KEYTASK_LOG_KEY", "")
	c.Collection.At, _ = env("KEYTASK_COLLECTION_AT", "12-01 09:00")
	c.Collection.DeadlineAfter, _ = env("KEYTASK_COLLECTION_DEADLINE_AFTER", "30d")
	c.Collection.Reminders, _ = env("KEYTASK_COLLECTION_REMINDERS", "14d,7d,3d,1d")
	c.Collection.CloseAfter, _ = env("KEYTASK_COLLECTION_CLOSE_AFTER", "30d")
	c.SMTPAddr, _ = env("KEYTASK_SMTP_ADDR", "")
	c.Mailer, _ = env("KEYTASK_MAILER", "")
	c.SMTPFrom, _ = env("KEYTASK_SMTP_FROM", "全国技工教育重点任务管理平台 <noreply@keytask.localhost>")
	c.SMTPUsername, _ = env("KEYTASK_SMTP_USERNAME", "")
	c.SMTPPassword, _ = env("KEYTASK_SMTP_PASSWORD", "")
	c.SMTPSecurity, _ = env("KEYTASK_SMTP_SECURITY", "starttls")
	c.WorkerStopTimeout, _ = env("KEYTASK_WORKER_STOP_TIMEOUT", "50s")
	c.Holidays, _ = env("KEYTASK_HOLIDAYS", "")
	if c.Holidays != "" {
		if abs, err := filepath.Abs(c.Holidays); err == nil {
			c.Holidays = abs
		}
	}
	c.MetricsAddr, _ = env("KEYTASK_METRICS_ADDR", "")
	c.PayloadKey, _ = env("KEYTASK_PAYLOAD_KEY", "")
	// Anything but an explicit no errs on the safe side: a Secure cookie.
	secure, _ := env("KEYTASK_SECURE_COOKIES", "false")
	c.SecureCookies = secure != "false" && secure != "0"
	c.DigestKey, _ = env("KEYTASK_DIGEST_KEY", "")
	c.DigestPublicKey, _ = env("KEYTASK_DIGEST_PUBLIC_KEY", "")
	return c
}

// StopTimeout parses WorkerStopTimeout.
func (c Config) StopTimeout() (time.Duration, error) {
	d, err := time.ParseDuration(c.WorkerStopTimeout)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("KEYTASK_WORKER_STOP_TIMEOUT %q: want a duration such as 50s", c.WorkerStopTimeout)
	}
	return d, nil
}

// OwnerURL is the database as its owner: MigrateDatabaseURL, or DatabaseURL
// where one login does both.
func (c Config) OwnerURL() string {
	if c.MigrateDatabaseURL != "" {
		return c.MigrateDatabaseURL
	}
	return c.DatabaseURL
}

// TemporalOrDefault is the frontend address for commands that do not embed a server.
func (c Config) TemporalOrDefault() string {
	if c.TemporalAddress != "" {
		return c.TemporalAddress
	}
	return "127.0.0.1:7233"
}
