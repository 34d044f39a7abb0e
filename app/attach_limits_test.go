package app_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"keytask/app"
	"keytask/domain"
	"keytask/domain/selection"
)

// TestAttachLimitUnderConcurrency fills an application to one file short of
// the limit, then sends several different files at once: one is attached,
// the others are refused, and no refused file's blob is stored.
func TestAttachLimitUnderConcurrency(t *testing.T) {
	f := newFixture(t)
	id := f.create("create-full")
	for i := range selection.MaxAttachments - 1 {
		if _, _, err := f.attach(id, "", fmt.Sprintf("f%d.pdf", i), pdf("file "+strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	const racers = 5
	var (
		wg       sync.WaitGroup
		attached atomic.Int32
		refused  atomic.Int32
	)
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, err := f.attach(id, "", "late.pdf", pdf("late "+strconv.Itoa(i)))
			var ce *domain.ConflictError
			switch {
			case err == nil:
				attached.Add(1)
			case errors.As(err, &ce) && ce.Field == "file":
				refused.Add(1)
			default:
				t.Errorf("upload %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if attached.Load() != 1 || refused.Load() != racers-1 {
		t.Fatalf("attached %d, refused %d; want 1 and %d", attached.Load(), refused.Load(), racers-1)
	}
	var blobs int
	if err := f.pool.QueryRow(context.Background(), `SELECT count(*) FROM attachments`).Scan(&blobs); err != nil {
		t.Fatal(err)
	}
	if blobs != selection.MaxAttachments {
		t.Fatalf("%d blobs stored, want the %d attached: refused uploads left theirs", blobs, selection.MaxAttachments)
	}
}

// upload is a generated file of size bytes that is never held whole in
// memory: a PDF header, then bytes that differ by seed.
type upload struct {
	left  int64
	state uint64
	head  string
}

func newUpload(seed, size int64) *upload {
	return &upload{left: size, state: uint64(seed)*0x9E3779B97F4A7C15 + 1, head: "%PDF-1.4\n"}
}

func (u *upload) Read(p []byte) (int, error) {
	if u.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > u.left {
		p = p[:u.left]
	}
	n := copy(p, u.head)
	u.head = u.head[n:]
	for i := n; i < len(p); i++ {
		u.state ^= u.state << 13
		u.state ^= u.state >> 7
		u.state ^= u.state << 17
		p[i] = byte(u.state)
	}
	u.left -= int64(len(p))
	return len(p), nil
}

// rss is the process's resident memory in bytes (Linux).
func rss(tb testing.TB) int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		tb.Skip("no /proc/self/statm")
	}
	fields := strings.Fields(string(b))
	pages, _ := strconv.ParseInt(fields[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// BenchmarkParallelUploads sends 20 uploads of 19 MB at once, each to an
// application of its own, and reports the process's peak resident memory
// above what it held before they started (the target is under 300 MB).
func BenchmarkParallelUploads(b *testing.B) {
	const (
		parallel = 20
		size     = 19 << 20
	)
	f := newFixtureSized(b, 20<<20)
	var peakAbove int64
	for n := range b.N {
		ids := make([]string, parallel)
		for i := range ids {
			ids[i] = f.create(fmt.Sprintf("bench-%d-%d", n, i))
		}
		runtime.GC()
		idle := rss(b)
		done, sampled := make(chan struct{}), make(chan struct{})
		peak := idle
		go func() {
			defer close(sampled)
			for {
				select {
				case <-done:
					return
				case <-time.After(5 * time.Millisecond):
					peak = max(peak, rss(b))
				}
			}
		}()
		var wg sync.WaitGroup
		for i, id := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req := f.school
				_, err := f.app.AttachFile(context.Background(), app.AttachFile{Request: req, ApplicationID: id,
					Open: func() (string, io.Reader, error) { return "big.pdf", newUpload(int64(n*parallel+i), size), nil }})
				if err != nil {
					b.Error(err)
				}
			}()
		}
		wg.Wait()
		close(done)
		<-sampled
		peak = max(peak, rss(b))
		peakAbove = max(peakAbove, peak-idle)
	}
	b.ReportMetric(float64(peakAbove)/(1<<20), "MB-peak-above-idle")
	b.ReportMetric(float64(parallel*size)/(1<<20), "MB-uploaded")
}
