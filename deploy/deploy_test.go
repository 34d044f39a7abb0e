package deploy_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"keytask/config"
)

// tool finds an external tool; CI installs them and sets KEYTASK_REQUIRE_TOOLS
// so that these checks cannot be skipped there.
func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("KEYTASK_REQUIRE_TOOLS") != "" {
			t.Fatalf("%s is required (KEYTASK_REQUIRE_TOOLS is set) but not installed", name)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}

func run(t *testing.T, env []string, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	if env != nil {
		cmd.Env = env
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestAlertRules(t *testing.T) {
	promtool := tool(t, "promtool")
	for _, args := range [][]string{
		{"check", "rules", "prometheus/alerts.yml"},
		{"test", "rules", "prometheus/alerts_test.yml"},
		{"check", "config", "prometheus/prometheus.yml"},
	} {
		if out, err := run(t, nil, promtool, args...); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// Every alert has a promtool test in which it fires, fed counters that start
// at zero as keytask's do.
func TestEveryAlertFiresInATest(t *testing.T) {
	var rules struct {
		Groups []struct{ Rules []struct{ Alert string } }
	}
	var tests struct {
		Tests []struct {
			InputSeries   []struct{ Series, Values string } `yaml:"input_series"`
			AlertRuleTest []struct {
				Alertname string
				ExpAlerts []any `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		}
	}
	for f, v := range map[string]any{"prometheus/alerts.yml": &rules, "prometheus/alerts_test.yml": &tests} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(b, v); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	fires := map[string]bool{}
	for i, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) == 0 {
				continue
			}
			fires[a.Alertname] = true
			for _, s := range tc.InputSeries {
				if strings.Contains(s.Series, "_total{") && !strings.HasPrefix(s.Values, "0") {
					t.Errorf("test %d, where %s fires, feeds %s starting at %q, not at zero", i, a.Alertname, s.Series, s.Values)
				}
			}
		}
	}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if !fires[r.Alert] {
				t.Errorf("no promtool test in which %s fires", r.Alert)
			}
		}
	}
}

// The image's build context leaves out history, local state and secrets, and
// keeps everything the Dockerfile builds from.
func TestDockerignore(t *testing.T) {
	b, err := os.ReadFile("../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for _, line := range strings.Split(string(b), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			patterns = append(patterns, strings.TrimPrefix(strings.TrimPrefix(line, "/"), "**/"))
		}
	}
	ignored := func(path string) bool {
		for _, p := range patterns {
			// A pattern that matches a directory leaves out all within it.
			for dir := path; dir != "."; dir = filepath.Dir(dir) {
				if ok, _ := filepath.Match(p, dir); ok {
					return true
				}
			}
		}
		return false
	}
	for _, out := range []string{".git/config", ".keytask/log-key", ".keytask/admin-password", "deploy/.env", "keytask"} {
		if !ignored(out) {
			t.Errorf("the build context includes %s", out)
		}
	}
	for _, in := range []string{"go.mod", "go.sum", "cmd/keytask/main.go", "api/server.go", "db/migrations/0001_event_log.sql"} {
		if ignored(in) {
			t.Errorf("the build context leaves out %s, which the build needs", in)
		}
	}
}

// minimalEnv keeps the caller's settings out of docker-compose's variable
// substitution.
func minimalEnv() []string {
	return []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir()}
}

func TestComposeConfig(t *testing.T) {
	compose := tool(t, "docker-compose")
	out, err := run(t, minimalEnv(), compose, "-f", "docker-compose.yml", "--env-file", ".env.example", "config")
	if err != nil {
		t.Fatalf("docker-compose config: %v\n%s", err, out)
	}
	var cfg struct {
		Services map[string]struct {
			Image       string
			Command     []string
			Environment map[string]string
			DependsOn   map[string]struct{ Condition string } `yaml:"depends_on"`
			Volumes     []string
		}
	}
	if err := yaml.Unmarshal([]byte(out), &cfg); err != nil {
		t.Fatal(err)
	}
	// Temporal as Temporal documents self-hosting: the server image, started
	// once the admin-tools image has brought its schema up to date on Postgres.
	for name, s := range cfg.Services {
		if strings.Contains(s.Image, "auto-setup") {
			t.Errorf("compose %s runs %s, which Temporal recommends for development only", name, s.Image)
		}
	}
	schema := cfg.Services["temporal-schema"]
	if !strings.HasPrefix(cfg.Services["temporal"].Image, "temporalio/server:") ||
		cfg.Services["temporal"].DependsOn["temporal-schema"].Condition != "service_completed_successfully" {
		t.Errorf("compose temporal runs %q after %v", cfg.Services["temporal"].Image, cfg.Services["temporal"].DependsOn)
	}
	script := strings.Join(schema.Command, " ")
	if !strings.HasPrefix(schema.Image, "temporalio/admin-tools:") || schema.Environment["SQL_PLUGIN"] != "postgres12" ||
		schema.Environment["SQL_HOST"] != "temporal-postgres" || !strings.Contains(script, "update-schema") ||
		!strings.Contains(script, "/etc/temporal/schema/postgresql/v12/") {
		t.Errorf("compose temporal-schema: image %q, env %v, script %q", schema.Image, schema.Environment, script)
	}
	// WAL is archived off the database's volume, to where the base backups go.
	mountOf := func(service, dir string) string {
		for _, v := range cfg.Services[service].Volumes {
			if parts := strings.Split(v, ":"); len(parts) >= 2 && strings.HasPrefix(dir+"/", parts[1]+"/") {
				return parts[0]
			}
		}
		return ""
	}
	archive := regexp.MustCompile(`archive_command=.*cp %p (\S+)/%f`).FindStringSubmatch(strings.Join(cfg.Services["postgres"].Command, " "))
	if archive == nil {
		t.Fatalf("compose postgres archives no WAL: %q", cfg.Services["postgres"].Command)
	}
	walMount := mountOf("postgres", archive[1])
	if walMount == "" || walMount == mountOf("postgres", "/var/lib/postgresql/data") {
		t.Errorf("WAL is archived to %s on mount %q, the database's own volume or none", archive[1], walMount)
	}
	backup := cfg.Services["postgres-backup"]
	backupScript, _ := os.ReadFile("postgres/backup.sh")
	if mountOf("postgres-backup", "/backups") != walMount || backup.Environment["KEYTASK_BACKUP_KEEP_DAYS"] == "" ||
		!strings.Contains(string(backupScript), "pg_basebackup") || !strings.Contains(string(backupScript), "-mtime") {
		t.Errorf("compose postgres-backup takes no base backups with retention beside the WAL archive: %+v", backup)
	}
	// The admin tools and the server are one release.
	if v := strings.TrimPrefix(cfg.Services["temporal"].Image, "temporalio/server:"); !strings.HasPrefix(schema.Image, "temporalio/admin-tools:"+v+"-") {
		t.Errorf("schema tools %s for server %s", schema.Image, cfg.Services["temporal"].Image)
	}
	for _, s := range []string{"postgres", "temporal-postgres", "temporal-schema", "temporal", "temporal-namespace", "keytask-migrate", "keytask-serve", "keytask-worker",
		"keytask-projector", "keytask-notifier", "prometheus", "grafana"} {
		if _, ok := cfg.Services[s]; !ok {
			t.Errorf("compose lacks service %s", s)
		}
	}
	if db := cfg.Services["temporal"].Environment["DB"]; !strings.HasPrefix(db, "postgres") {
		t.Errorf("temporal persistence is %q, want Postgres", db)
	}
	for name, s := range cfg.Services {
		if strings.HasPrefix(name, "keytask-") {
			checkEnv(t, "compose "+name, s.Environment)
		}
	}
	// The notifier delivers mail through the relay the operator names.
	notifier := cfg.Services["keytask-notifier"]
	if !slices.Equal(notifier.Command, []string{"notifier"}) || notifier.Environment["KEYTASK_SMTP_ADDR"] == "" ||
		notifier.Environment["KEYTASK_MAILER"] == "files" {
		t.Errorf("compose keytask-notifier runs %q with SMTP relay %q, mailer %q", notifier.Command,
			notifier.Environment["KEYTASK_SMTP_ADDR"], notifier.Environment["KEYTASK_MAILER"])
	}
	// A secret left unset is refused, not defaulted.
	env := filepath.Join(t.TempDir(), "env")
	example, _ := os.ReadFile(".env.example")
	os.WriteFile(env, regexp.MustCompile(`(?m)^KEYTASK_LOG_KEY=.*$`).ReplaceAll(example, nil), 0o600)
	if out, err := run(t, minimalEnv(), compose, "-f", "docker-compose.yml", "--env-file", env, "config", "-q"); err == nil || !strings.Contains(out, "KEYTASK_LOG_KEY") {
		t.Errorf("compose without KEYTASK_LOG_KEY: %v\n%s", err, out)
	}
}

func checkEnv(t *testing.T, where string, env map[string]string) {
	t.Helper()
	var known []string
	for _, s := range config.Settings {
		known = append(known, s.Env)
	}
	for k := range env {
		if strings.HasPrefix(k, "KEYTASK_") && !slices.Contains(known, k) {
			t.Errorf("%s sets %s, which keytask does not read", where, k)
		}
	}
}

func TestK8sManifests(t *testing.T) {
	files, err := filepath.Glob("k8s/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	kinds := map[string]int{}
	// component → the keytask command its Deployment runs, and the Secrets it reads.
	deployments := map[string][]string{}
	secretsOf := map[string][]string{}
	secretKeys := map[string]map[string]any{}
	var serverImages []string
	var dumpJob string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for {
			var doc map[string]any
			if err := dec.Decode(&doc); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				t.Fatalf("%s: %v", f, err)
			}
			kind, _ := doc["kind"].(string)
			meta, _ := doc["metadata"].(map[string]any)
			if doc["apiVersion"] == nil || kind == "" || meta["name"] == nil {
				t.Errorf("%s: a document without apiVersion, kind or name", f)
			}
			kinds[kind]++
			walkContainers(doc, func(c map[string]any) {
				image, _ := c["image"].(string)
				if strings.Contains(image, "temporalio") || (strings.Contains(image, "postgres") && kind != "CronJob") {
					serverImages = append(serverImages, kind+" "+meta["name"].(string)+": "+image)
				}
				if kind == "CronJob" && strings.Contains(image, "postgres") {
					b, _ := yaml.Marshal(doc)
					dumpJob = string(b)
				}
			})
			if kind == "Secret" {
				secretKeys[meta["name"].(string)], _ = doc["stringData"].(map[string]any)
			}
			if kind == "Deployment" {
				walkContainers(doc, func(c map[string]any) {
					args := fmt.Sprint(c["args"])
					deployments[args] = append(deployments[args], meta["name"].(string))
					from, _ := c["envFrom"].([]any)
					for _, e := range from {
						if ref, ok := e.(map[string]any)["secretRef"].(map[string]any); ok {
							secretsOf[args] = append(secretsOf[args], ref["name"].(string))
						}
					}
				})
			}
			if kind == "ConfigMap" || kind == "Secret" {
				env := map[string]string{}
				for _, key := range []string{"data", "stringData"} {
					if m, ok := doc[key].(map[string]any); ok {
						for k := range m {
							env[k] = ""
						}
					}
				}
				checkEnv(t, f, env)
			}
		}
	}
	for _, k := range []string{"Deployment", "Job", "CronJob", "ConfigMap", "Secret", "Service"} {
		if kinds[k] == 0 {
			t.Errorf("no %s among the manifests", k)
		}
	}
	if kinds["Deployment"] != 4 {
		t.Errorf("%d deployments, want serve, worker, projector and notifier", kinds["Deployment"])
	}
	for _, cmd := range []string{"serve", "worker", "projector", "notifier"} {
		if len(deployments["["+cmd+"]"]) != 1 {
			t.Errorf("deployments running keytask %s: %v", cmd, deployments["["+cmd+"]"])
		}
	}
	// The notifier's relay comes from a Secret, and no file mailer stands in for it.
	relay := false
	for _, name := range secretsOf["[notifier]"] {
		if addr, _ := secretKeys[name]["KEYTASK_SMTP_ADDR"].(string); addr != "" {
			relay = true
		}
		if secretKeys[name]["KEYTASK_MAILER"] == "files" {
			t.Errorf("secret %s makes the notifier write mail to files", name)
		}
	}
	if !relay {
		t.Errorf("the notifier reads Secrets %v, none of which names KEYTASK_SMTP_ADDR", secretsOf["[notifier]"])
	}
	// Temporal and Postgres are external: no workload here runs them; Postgres's
	// client tools dump the database nightly, with retention, to a volume of its own.
	if len(serverImages) > 0 {
		t.Errorf("workloads run Temporal or Postgres themselves: %v", serverImages)
	}
	if !strings.Contains(dumpJob, "pg_dump") || !strings.Contains(dumpJob, "-mtime") || !strings.Contains(dumpJob, "persistentVolumeClaim") {
		t.Errorf("no CronJob dumps the database with retention onto a volume of its own")
	}
}

// walkContainers calls f for every container of a pod template anywhere in doc.
func walkContainers(v any, f func(map[string]any)) {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if k == "containers" {
				for _, c := range val.([]any) {
					f(c.(map[string]any))
				}
				continue
			}
			walkContainers(val, f)
		}
	case []any:
		for _, val := range x {
			walkContainers(val, f)
		}
	}
}

// deploymentCommands lists the keytask command lines the compose file and the
// manifests run.
func deploymentCommands(t *testing.T) [][]string {
	t.Helper()
	var out [][]string
	var compose struct {
		Services map[string]struct{ Command []string }
	}
	b, err := os.ReadFile("docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &compose); err != nil {
		t.Fatal(err)
	}
	for name, s := range compose.Services {
		if strings.HasPrefix(name, "keytask-") {
			out = append(out, s.Command)
		}
	}
	files, _ := filepath.Glob("k8s/*.yaml")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for {
			var doc map[string]any
			if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			walkContainers(doc, func(c map[string]any) {
				if image, _ := c["image"].(string); !strings.Contains(image, "/keytask:") {
					return // the database dump runs Postgres's client tools
				}
				var args []string
				for _, a := range c["args"].([]any) {
					args = append(args, a.(string))
				}
				out = append(out, args)
			})
		}
	}
	return out
}

// Every command the deployment files run exists in the keytask binary.
func TestCommandsExist(t *testing.T) {
	commands := deploymentCommands(t)
	if len(commands) < 8 {
		t.Fatalf("only %d commands found in the deployment files", len(commands))
	}
	bin := filepath.Join(t.TempDir(), "keytask")
	if out, err := run(t, nil, "go", "build", "-o", bin, "../cmd/keytask"); err != nil {
		t.Fatalf("build keytask: %v\n%s", err, out)
	}
	seen := map[string]bool{}
	for _, c := range commands {
		key := strings.Join(c, " ")
		if seen[key] {
			continue
		}
		seen[key] = true
		// A bare group (or a typo cobra resolves to the root) lists subcommands.
		if out, err := run(t, minimalEnv(), bin, append(c, "--help")...); len(c) == 0 || err != nil ||
			!strings.Contains(out, "Usage:") || strings.Contains(out, "Available Commands") {
			t.Errorf("keytask %q is not a command: %v\n%s", key, err, out)
		}
	}
}

// exported collects every metric name keytask can export: the keytask_* names
// written in its source, the Watermill router metrics of the projector, and the
// Temporal SDK's metric names as keytask's handler renames them.
func exported(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	name := regexp.MustCompile(`^keytask_[a-z0-9_]+$`)
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "deploy" || strings.HasPrefix(d.Name(), ".")) && path != ".." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, err := strconv.Unquote(lit.Value); err == nil && name.MatchString(s) {
					names[s] = true
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := run(t, nil, "go", "list", "-m", "-f", "{{.Dir}}", "go.temporal.io/sdk")
	if err != nil {
		t.Fatalf("locate the Temporal SDK: %v\n%s", err, out)
	}
	src, err := os.ReadFile(filepath.Join(strings.TrimSpace(out), "internal", "common", "metrics", "constants.go"))
	if err != nil {
		t.Fatal(err)
	}
	consts := map[string]string{"TemporalMetricsPrefix": "temporal_"}
	decl := regexp.MustCompile(`(?m)^\s*(\w+)\s*=\s*(\w+)\s*\+\s*"([a-z0-9_]+)"`)
	for range 3 { // constants built on constants
		for _, m := range decl.FindAllStringSubmatch(string(src), -1) {
			if base, ok := consts[m[2]]; ok {
				consts[m[1]] = base + m[3]
			}
		}
	}
	for k, v := range consts {
		if k == "TemporalMetricsPrefix" {
			continue
		}
		// keytask's handler gives counters the _total suffix; timers are histograms.
		names[v], names[v+"_total"] = true, true
	}
	if !names["temporal_workflow_failed_total"] || !names["keytask_projection_lag_seconds"] {
		t.Fatalf("metric inventory looks wrong: %d names", len(names))
	}
	return names
}

var metricRef = regexp.MustCompile(`\b(?:keytask|temporal)_[a-z0-9_]+`)

// checkExpr reports every metric an expression names that keytask does not export.
func checkExpr(t *testing.T, where, expr string, names map[string]bool) {
	t.Helper()
	for _, m := range metricRef.FindAllString(expr, -1) {
		base := m
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(m, suf); ok && names[b] {
				base = b
			}
		}
		if !names[base] {
			t.Errorf("%s uses %s, which keytask does not export", where, m)
		}
	}
}

func TestRulesAndDashboardsUseExportedMetrics(t *testing.T) {
	names := exported(t)
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string
				Expr  string
			}
		}
	}
	b, err := os.ReadFile("prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &rules); err != nil {
		t.Fatal(err)
	}
	alerts := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			alerts++
			checkExpr(t, "alert "+r.Alert, r.Expr, names)
		}
	}
	for _, want := range []string{"keytask_projection_lag", "temporal_workflow_failed", "StageDeadlinePassed", "keytask_collection_deadline"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("no alert on %s", want)
		}
	}

	dashboards, _ := filepath.Glob("grafana/dashboards/*.json")
	if len(dashboards) < 3 || alerts < 4 {
		t.Fatalf("%d dashboards, %d alerts", len(dashboards), alerts)
	}
	var all strings.Builder
	for _, f := range dashboards {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			UID    string
			Panels []struct {
				ID         int
				Title      string
				Datasource struct{ UID string }
				Targets    []struct{ Expr string }
			}
		}
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		ids := map[int]bool{}
		for _, p := range d.Panels {
			if ids[p.ID] || p.Datasource.UID != "prometheus" || len(p.Targets) == 0 {
				t.Errorf("%s panel %q: id %d repeated, datasource %q or no queries", f, p.Title, p.ID, p.Datasource.UID)
			}
			ids[p.ID] = true
			for _, q := range p.Targets {
				checkExpr(t, f+" panel "+p.Title, q.Expr, names)
				all.WriteString(q.Expr + "\n")
			}
		}
		if d.UID == "" {
			t.Errorf("%s has no uid", f)
		}
	}
	// The dashboards cover what operators watch.
	for _, want := range []string{"keytask_events_appended_total", "keytask_projection_lag_seconds", "temporal_workflow_completed_total",
		"StageAdvanced", "IntentReminderSent", "keytask_http_request_duration_seconds_bucket"} {
		if !strings.Contains(all.String(), want) {
			t.Errorf("no dashboard panel uses %s", want)
		}
	}
	prov, _ := os.ReadFile("grafana/provisioning/datasources/prometheus.yml")
	if !strings.Contains(string(prov), "uid: prometheus") {
		t.Error("the provisioned datasource is not the one the dashboards name")
	}
}
