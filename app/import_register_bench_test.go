package app_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"keytask/app"
	"keytask/attachments"
	"keytask/db/pgtest"
	"keytask/domain/importrows"
	"keytask/domain/register"
	"keytask/events"
	"keytask/imports"
)

// nationalRegisters is a national register as CSV files: 2,500 schools over
// the provinces and 1,000 experts, each file's codes prefixed by run.
func nationalRegisters(run int) (schools, experts string) {
	var s, x strings.Builder
	s.WriteString("学校标识,院校全称,所在省份,院校类别\n")
	provinces := []string{"11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37", "41",
		"42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65", "66"}
	for i := range 2500 {
		p := provinces[i%len(provinces)]
		fmt.Fprintf(&s, "R%d-SCH-%s-%04d,第%d号技工院校,%s,%s\n", run, p, i, i, p, register.Kinds[i%3])
	}
	x.WriteString("专家ID,姓名,所在省份,工作单位学校标识,评审工作量上限,专业水平-YZYX,专业水平-JPKC,回避学校\n")
	for i := range 1000 {
		p := provinces[i%len(provinces)]
		fmt.Fprintf(&x, "r%d-expert-%04d,专家%d,%s,R%d-SCH-%s-%04d,20,%d,%d,\n", run, i, i, p, run, p, i, 1+i%3, i%4)
	}
	return s.String(), x.String()
}

// BenchmarkImportNationalRegister imports 2,500 schools and 1,000 experts
// from CSV into the log (validation, a read of each record's stream, an
// append per record) and, as the anchor in the same run, inserts the same
// rows with one plain INSERT each into a bare table at the same concurrency.
// It reports both in seconds and their ratio.
func BenchmarkImportNationalRegister(b *testing.B) {
	ctx := context.Background()
	d := pgtest.New(b)
	store := events.NewStore(d.Pool)
	a := app.New(store, attachments.NewStore(d.Pool, 1<<20), nil)
	if _, err := d.Pool.Exec(ctx, `CREATE TABLE plain_register (sheet text, key text, row jsonb)`); err != nil {
		b.Fatal(err)
	}
	req := app.Request{Meta: events.Metadata{ActorID: "admin", Role: "ministry"}}
	var logSeconds, plainSeconds float64
	b.ResetTimer()
	for run := range b.N {
		schools, experts := nationalRegisters(run)
		start := time.Now()
		for _, f := range []struct {
			sheet importrows.Sheet
			csv   string
			want  int
		}{{importrows.SheetSchools, schools, 2500}, {importrows.SheetExperts, experts, 1000}} {
			rows, err := imports.Read("register.csv", strings.NewReader(f.csv), f.sheet)
			if err != nil {
				b.Fatal(err)
			}
			rep, err := a.ImportRegister(ctx, app.ImportRegister{Request: req, Sheet: f.sheet, Rows: rows})
			if err != nil || len(rep.Errors) > 0 || rep.Added != f.want {
				b.Fatalf("import %s: %+v, %v", f.sheet, rep, err)
			}
		}
		logSeconds += time.Since(start).Seconds()

		start = time.Now()
		for _, f := range []struct {
			sheet importrows.Sheet
			csv   string
		}{{importrows.SheetSchools, schools}, {importrows.SheetExperts, experts}} {
			rows, err := imports.Read("register.csv", strings.NewReader(f.csv), f.sheet)
			if err != nil {
				b.Fatal(err)
			}
			next := make(chan imports.Row)
			errs := make(chan error, 4)
			for range 4 {
				go func() {
					var first error
					for row := range next {
						if _, err := d.Pool.Exec(ctx, `INSERT INTO plain_register (sheet, key, row) VALUES ($1, $2, $3)`,
							string(f.sheet), row.Cells.Key(f.sheet), map[string]string(row.Cells)); err != nil && first == nil {
							first = err
						}
					}
					errs <- first
				}()
			}
			for _, row := range rows {
				next <- row
			}
			close(next)
			for range 4 {
				if err := <-errs; err != nil {
					b.Fatal(err)
				}
			}
		}
		plainSeconds += time.Since(start).Seconds()
	}
	b.ReportMetric(logSeconds/float64(b.N), "s/import")
	b.ReportMetric(plainSeconds/float64(b.N), "s/plain-insert")
	b.ReportMetric(logSeconds/plainSeconds, "ratio")
}
