// Package fuzzing runs every fuzz target of the module for a few seconds, so that
// the ordinary test command explores beyond the committed corpus, and fails when
// a fuzz target exists that is not listed here.
package fuzzing

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// targets lists every fuzz target by package directory, with how many inputs
// to try beyond its corpus: a couple of seconds' worth on a busy two-core
// machine. The budget is a count, not a duration, because a duration races the
// fuzzing coordinator's own deadline in Go 1.26 and fails a passing target with
// a bare "context deadline exceeded" (go.dev/issue/75804). A new target must be
// added here, so that it is run (TestFuzzTargetsListed fails otherwise).
var targets = []struct {
	pkg, name string
	execs     int
}{
	{"domain/intent", "FuzzParseWan", 20000},
	{"domain/intent", "FuzzParseMoney", 20000},
	{"domain/intent", "FuzzParseQuantity", 20000},
	{"domain/intent", "FuzzValidateForm", 20000},
	{"domain/selection", "FuzzParseFields", 20000},
	{"domain/selection", "FuzzFileObjection", 20000},
	{"domain/selection", "FuzzSubmitScores", 20000},
	{"domain/scoring", "FuzzTotal", 20000},
	{"domain/scoring", "FuzzPointsText", 20000},
	{"domain/performance", "FuzzReportInput", 20000},
	// The api package's test binary embeds Temporal, and fuzzing's coverage map
	// spans all of it: each input costs milliseconds there.
	{"api", "FuzzDecodeIntentForm", 300},
	{"api", "FuzzObjectionForm", 300},
	{"api", "FuzzTimelineQuery", 300},
	{"api", "FuzzListApplicationsQuery", 300},
	{"api", "FuzzDecodeReport", 300},
	{"api", "FuzzReportForm", 300},
	{"api", "FuzzPerformanceQuery", 300},
	{"api", "FuzzAuditAsOf", 300},
	{"api", "FuzzProjectsQuery", 300},
	{"api", "FuzzPathSegment", 30}, // every GET route per input
}

var fuzzFunc = regexp.MustCompile(`(?m)^func (Fuzz\w*)\(\w+ \*testing\.F\)`)

// moduleRoot is the directory holding go.mod, above this package.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// discover finds every fuzz target in the module's test files.
func discover(t *testing.T, root string) map[string][]string {
	t.Helper()
	found := map[string][]string{} // package dir → names
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "vendor") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		for _, m := range fuzzFunc.FindAllSubmatch(b, -1) {
			found[filepath.ToSlash(rel)] = append(found[filepath.ToSlash(rel)], string(m[1]))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// TestFuzzTargetsListed fails when a fuzz target is missing from targets, or
// targets names one that no longer exists.
func TestFuzzTargetsListed(t *testing.T) {
	found := discover(t, moduleRoot(t))
	listed := map[string]bool{}
	for _, tg := range targets {
		listed[tg.pkg+"."+tg.name] = true
		if !slices.Contains(found[tg.pkg], tg.name) {
			t.Errorf("%s.%s is listed but no test file of %s declares it", tg.pkg, tg.name, tg.pkg)
		}
	}
	n := 0
	for pkg, names := range found {
		for _, name := range names {
			n++
			if !listed[pkg+"."+name] {
				t.Errorf("fuzz target %s in ./%s is not listed in fuzzing/targets_fuzz_test.go: add it so that the tests run it", name, pkg)
			}
		}
	}
	if n == 0 {
		t.Fatal("found no fuzz target at all: the scan is broken")
	}
}

// TestFuzzTargetsBriefly runs each fuzz target for its budget beyond its corpus.
// A failure leaves the failing input under the package's testdata/fuzz, where
// the package's own tests replay it from then on.
//
// Each package's instrumented test binary is built once and runs all of its
// targets: linking it is most of a target's cost (the api binary embeds
// Temporal), and `go test -fuzz` would link it again for every target. The
// packages proceed side by side, one target at a time within a package.
func TestFuzzTargetsBriefly(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every fuzz target for a few seconds")
	}
	root := moduleRoot(t)
	out, err := exec.Command("go", "env", "GOCACHE").Output()
	if err != nil {
		t.Fatalf("go env GOCACHE: %v", err)
	}
	// Where `go test -fuzz` keeps what it generated, so that runs build on
	// each other's findings as they did when the go command ran them.
	fuzzCache := filepath.Join(strings.TrimSpace(string(out)), "fuzz", "keytask")
	bin := t.TempDir()
	var pkgs []string
	for _, tg := range targets {
		if !slices.Contains(pkgs, tg.pkg) {
			pkgs = append(pkgs, tg.pkg)
		}
	}
	for _, pkg := range pkgs {
		// Named without slashes, which -run would read as levels of subtests.
		name := strings.ReplaceAll(pkg, "/", "_")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			// The build compiles the package and its dependencies with coverage
			// instrumentation, which for packages that embed Temporal takes
			// minutes on a cold cache.
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
			defer cancel()
			test := filepath.Join(bin, name+".test")
			build := exec.CommandContext(ctx, "go", "test", "-c", "-fuzz=.", "-o", test, "./"+pkg)
			build.Dir = root
			if out, err := build.CombinedOutput(); err != nil {
				t.Fatalf("go test -c -fuzz=. ./%s: %v\n%s", pkg, err, out)
			}
			for _, tg := range targets {
				if tg.pkg != pkg {
					continue
				}
				t.Run(tg.name, func(t *testing.T) {
					cmd := exec.CommandContext(ctx, test, "-test.run=^$", "-test.fuzz=^"+tg.name+"$",
						fmt.Sprintf("-test.fuzztime=%dx", tg.execs), "-test.parallel=1",
						"-test.fuzzcachedir="+filepath.Join(fuzzCache, filepath.FromSlash(pkg)))
					// As under go test: the corpus is read from, and a failing
					// input written to, the package's testdata/fuzz.
					cmd.Dir = filepath.Join(root, filepath.FromSlash(pkg))
					out, err := cmd.CombinedOutput()
					if err != nil {
						t.Fatalf("fuzz %s in ./%s: %v\n%s", tg.name, pkg, err, out)
					}
					if !strings.Contains(string(out), "PASS") {
						t.Fatalf("fuzz %s in ./%s did not pass:\n%s", tg.name, pkg, out)
					}
				})
			}
		})
	}
}
