package attachments_test

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"keytask/attachments"
	"keytask/db/pgtest"
	"keytask/domain"
)

// zipWith returns a zip archive holding empty parts with the given names.
func zipWith(t *testing.T, names ...string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, n := range names {
		w, err := zw.Create(n)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write([]byte("<x/>"))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func xlsx(t *testing.T) []byte {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	if err := f.SetCellValue("Sheet1", "A1", "在校生人数"); err != nil {
		t.Fatal(err)
	}
	b, err := f.WriteToBuffer()
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func wantFileError(t *testing.T, err error) {
	t.Helper()
	var fe *domain.FieldError
	if !errors.As(err, &fe) || fe.Field != "file" || fe.Message == "" {
		t.Fatalf("error %v, want a field error on file", err)
	}
}

func TestDetect(t *testing.T) {
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"PDF", []byte("%PDF-1.7\n%âãÏÓ\n1 0 obj"), attachments.PDF},
		{"PNG", png, attachments.PNG},
		{"JPEG", []byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00"), attachments.JPEG},
		{"DOCX", zipWith(t, "[Content_Types].xml", "_rels/.rels", "word/document.xml"), attachments.DOCX},
		{"XLSX", xlsx(t), attachments.XLSX},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := attachments.Detect(c.data)
			if err != nil || got != c.want {
				t.Fatalf("got %q, %v; want %q", got, err, c.want)
			}
		})
	}
	for _, c := range []struct {
		name string
		data []byte
	}{
		{"Empty", nil},
		{"Text", []byte("just text, whatever the client says it is")},
		{"HTML", []byte("<html><script>alert(1)</script></html>")},
		{"PlainZip", zipWith(t, "a.txt")},
		{"ZipWithBoth", zipWith(t, "[Content_Types].xml", "word/document.xml", "xl/workbook.xml")},
		{"GIF", []byte("GIF89a\x01\x00\x01\x00")},
	} {
		t.Run("Err"+c.name, func(t *testing.T) {
			_, err := attachments.Detect(c.data)
			wantFileError(t, err)
		})
	}
}

func TestStore(t *testing.T) {
	ctx := context.Background()
	d := pgtest.New(t)
	s := attachments.NewStore(d.Pool, 1024)
	pdf := []byte("%PDF-1.4\n" + strings.Repeat("x", 100))

	a, created, err := s.Put(ctx, bytes.NewReader(pdf))
	if err != nil || !created {
		t.Fatal(created, err)
	}
	if !attachments.ValidHash(a.SHA256) || a.Size != int64(len(pdf)) || a.MediaType != attachments.PDF || a.CreatedAt.IsZero() {
		t.Fatalf("got %+v", a)
	}

	t.Run("DedupByHash", func(t *testing.T) {
		again, created, err := s.Put(ctx, bytes.NewReader(pdf))
		if err != nil || created || again != a {
			t.Fatalf("second put: %+v, created %v, %v", again, created, err)
		}
		var n int
		if err := d.Pool.QueryRow(ctx, `SELECT count(*) FROM attachments`).Scan(&n); err != nil || n != 1 {
			t.Fatalf("%d rows, %v", n, err)
		}
	})
	t.Run("Get", func(t *testing.T) {
		got, data, err := s.Get(ctx, a.SHA256)
		if err != nil || !bytes.Equal(data, pdf) || got != a {
			t.Fatalf("got %+v, %d bytes, %v", got, len(data), err)
		}
		if _, _, err := s.Get(ctx, strings.Repeat("0", 64)); !errors.Is(err, attachments.ErrNotFound) {
			t.Fatalf("missing: %v", err)
		}
	})
	t.Run("ErrTooLarge", func(t *testing.T) {
		big := append([]byte("%PDF-1.4\n"), make([]byte, 1024)...)
		_, _, err := s.Put(ctx, bytes.NewReader(big))
		var tl *attachments.TooLargeError
		if !errors.As(err, &tl) || tl.Limit != 1024 {
			t.Fatalf("got %v", err)
		}
		wantFileError(t, err)
		// Exactly at the limit is allowed.
		if _, _, err := s.Put(ctx, bytes.NewReader(big[:1024])); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ErrType", func(t *testing.T) {
		_, _, err := s.Put(ctx, strings.NewReader("MZ\x90\x00 an executable"))
		wantFileError(t, err)
	})
	t.Run("NeverChanged", func(t *testing.T) {
		// Not even the schema owner may change or remove a stored file.
		if _, err := d.Owner.Exec(ctx, `UPDATE attachments SET media_type = 'image/png'`); err == nil {
			t.Fatal("update allowed")
		}
		if _, err := d.Owner.Exec(ctx, `DELETE FROM attachments`); err == nil {
			t.Fatal("delete allowed")
		}
		if _, err := d.Pool.Exec(ctx, `UPDATE attachments SET media_type = 'image/png'`); err == nil {
			t.Fatal("the writer may update")
		}
	})
}
