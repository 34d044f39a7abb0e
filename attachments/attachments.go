// Package attachments stores the files that applications carry, addressed by
// their SHA-256 in Postgres: a file is inserted once and never changed, so the
// same content uploaded twice is stored once. It decides a file's type by its
// content, never by what the client claims, and refuses oversized files and
// types that are not allowed.
package attachments

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"keytask/domain"
)

// DefaultMaxSize is the largest file stored when the store is not told otherwise.
const DefaultMaxSize = 20 << 20

// Media types that may be stored.
const (
	PDF  = "application/pdf"
	PNG  = "image/png"
	JPEG = "image/jpeg"
	DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
	XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
)

// Field is the name under which errors report the uploaded file.
const Field = "file"

// ErrNotFound is returned by Get for a hash that is not stored.
var ErrNotFound = errors.New("attachment not found")

// TooLargeError is a file over the size limit. It unwraps to the
// *domain.FieldError that tells the user the limit.
type TooLargeError struct {
	Limit int64
	err   error
}

// TooLarge returns the error for a file over limit bytes.
func TooLarge(limit int64) *TooLargeError {
	return &TooLargeError{Limit: limit, err: domain.Invalid(Field,
		fmt.Sprintf("文件不能超过%s", humanSize(limit)), fmt.Sprintf("file exceeds %d bytes", limit))}
}

func (e *TooLargeError) Error() string { return e.err.Error() }
func (e *TooLargeError) Unwrap() error { return e.err }

// Attachment describes a stored file.
type Attachment struct {
	SHA256    string    `json:"sha256"` // lower-case hex
	Size      int64     `json:"size"`
	MediaType string    `json:"media_type"`
	CreatedAt time.Time `json:"created_at"`
}

// Store keeps attachments in the attachments table (migration 0003).
type Store struct {
	pool    *pgxpool.Pool
	maxSize int64
}

// NewStore returns a store over pool that refuses files over maxSize bytes
// (DefaultMaxSize when maxSize <= 0).
func NewStore(pool *pgxpool.Pool, maxSize int64) *Store {
	if maxSize <= 0 {
		maxSize = DefaultMaxSize
	}
	return &Store{pool: pool, maxSize: maxSize}
}

// MaxSize is the largest file the store accepts.
func (s *Store) MaxSize() int64 { return s.maxSize }

// Put spools r (see Spool) and keeps it (see Keep). Errors: those of Spool and Keep.
func (s *Store) Put(ctx context.Context, r io.Reader) (a Attachment, created bool, err error) {
	sp, err := s.Spool(r)
	if err != nil {
		return a, false, err
	}
	defer sp.Close()
	return s.Keep(ctx, sp)
}

// Spooled is an upload read into a temporary file: its hash, size and type
// are known before anything is stored, and memory stays bounded whatever its
// size. Close removes the file.
type Spooled struct {
	Attachment
	file *os.File
}

// Close removes the spooled file.
func (sp *Spooled) Close() error {
	err := sp.file.Close()
	if rerr := os.Remove(sp.file.Name()); err == nil {
		err = rerr
	}
	return err
}

// Spool reads r to its end into a temporary file, hashing it on the way, and
// checks its size and type. Errors: *TooLargeError, *domain.FieldError for
// "file" (empty, or a type not allowed), and r's error.
func (s *Store) Spool(r io.Reader) (*Spooled, error) {
	f, err := os.CreateTemp("", "keytask-upload-*")
	if err != nil {
		return nil, fmt.Errorf("spool attachment: %w", err)
	}
	sp := &Spooled{file: f}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(r, s.maxSize+1))
	if err == nil && n > s.maxSize {
		err = TooLarge(s.maxSize)
	}
	if err == nil {
		sp.MediaType, err = detectFile(f, n)
	}
	if err != nil {
		_ = sp.Close()
		if _, ok := err.(*TooLargeError); !ok && !isFieldError(err) {
			err = fmt.Errorf("read attachment: %w", err)
		}
		return nil, err
	}
	sp.SHA256, sp.Size = hex.EncodeToString(h.Sum(nil)), n
	return sp, nil
}

func isFieldError(err error) bool {
	var fe *domain.FieldError
	return errors.As(err, &fe)
}

// Keep stores a spooled file unless its content is stored already (created
// is false then). The bytes are streamed to Postgres with COPY, so the process
// never holds the whole file.
func (s *Store) Keep(ctx context.Context, sp *Spooled) (a Attachment, created bool, err error) {
	if stored, err := s.Stat(ctx, sp.SHA256); err == nil {
		return stored, false, nil
	} else if !errors.Is(err, ErrNotFound) {
		return a, false, err
	}
	if _, err := sp.file.Seek(0, io.SeekStart); err != nil {
		return a, false, err
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return a, false, err
	}
	// COPY's text format: tab-separated columns, bytea as \\x and hex digits.
	row := io.MultiReader(strings.NewReader(fmt.Sprintf("%s\t%d\t%s\t\\\\x", sp.SHA256, sp.Size, sp.MediaType)),
		hexReader{bufio.NewReaderSize(sp.file, 32<<10)}, strings.NewReader("\n"))
	_, err = conn.Conn().PgConn().CopyFrom(ctx, row, "COPY attachments (sha256, size, media_type, data) FROM STDIN")
	// Released before Stat takes a connection: holding two would deadlock a
	// pool that many uploads share.
	conn.Release()
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == "23505":
		// The same content, stored by a concurrent upload: the same hash is the same bytes.
	case err != nil:
		return a, false, fmt.Errorf("store attachment %s: %w", sp.SHA256, err)
	default:
		created = true
	}
	stored, err := s.Stat(ctx, sp.SHA256)
	if err != nil {
		return a, false, err
	}
	return stored, created, nil
}

// hexReader reads its source encoded as hex digits.
type hexReader struct{ src io.Reader }

func (h hexReader) Read(p []byte) (int, error) {
	raw := make([]byte, len(p)/2)
	n, err := h.src.Read(raw)
	hex.Encode(p, raw[:n])
	return 2 * n, err
}

var hashForm = regexp.MustCompile(`^[0-9a-f]{64}$`)

// ValidHash reports whether h is a lower-case hex SHA-256.
func ValidHash(h string) bool { return hashForm.MatchString(h) }

// Stat describes a stored file. Errors: ErrNotFound.
func (s *Store) Stat(ctx context.Context, hash string) (Attachment, error) {
	a := Attachment{SHA256: hash}
	err := s.pool.QueryRow(ctx, `SELECT size, media_type, created_at FROM attachments WHERE sha256 = $1`, hash).
		Scan(&a.Size, &a.MediaType, &a.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return a, fmt.Errorf("attachment %s: %w", hash, ErrNotFound)
	}
	if err != nil {
		return a, fmt.Errorf("attachment %s: %w", hash, err)
	}
	a.CreatedAt = a.CreatedAt.UTC()
	return a, nil
}

// Get returns a stored file and its content. Errors: ErrNotFound.
func (s *Store) Get(ctx context.Context, hash string) (Attachment, []byte, error) {
	a := Attachment{SHA256: hash}
	var data []byte
	err := s.pool.QueryRow(ctx, `SELECT size, media_type, created_at, data FROM attachments WHERE sha256 = $1`, hash).
		Scan(&a.Size, &a.MediaType, &a.CreatedAt, &data)
	if errors.Is(err, pgx.ErrNoRows) {
		return a, nil, fmt.Errorf("attachment %s: %w", hash, ErrNotFound)
	}
	if err != nil {
		return a, nil, fmt.Errorf("attachment %s: %w", hash, err)
	}
	a.CreatedAt = a.CreatedAt.UTC()
	return a, data, nil
}

// Detect returns the media type of a file's content if it is allowed. PDF, PNG
// and JPEG are recognised by http.DetectContentType; a .docx or .xlsx is a zip
// archive, told apart by the part that only that kind of document has.
// Errors: *domain.FieldError for "file".
func Detect(data []byte) (string, error) {
	return detect(data, func() (*zip.Reader, error) { return zip.NewReader(bytes.NewReader(data), int64(len(data))) })
}

// detect decides by head, the file's first bytes (at least 512 when it has
// them), and opens the whole file as a zip archive only when it is one.
func detect(data []byte, archive func() (*zip.Reader, error)) (string, error) {
	if len(data) == 0 {
		return "", domain.Invalid(Field, "文件为空，请重新选择文件", "empty file")
	}
	switch sniffed := http.DetectContentType(data); sniffed {
	case PDF, PNG, JPEG:
		return sniffed, nil
	case "application/zip":
		if zr, err := archive(); err == nil {
			if t := officeType(zr); t != "" {
				return t, nil
			}
		}
	}
	return "", domain.Invalid(Field, "只能上传 PDF、PNG、JPEG 图片或 Word（.docx）、Excel（.xlsx）文件",
		"file type "+http.DetectContentType(data)+" is not allowed")
}

// detectFile is Detect for a spooled file of size bytes: the type is sniffed
// from its first 512 bytes, and an office document told apart by its zip
// directory, without reading the file whole.
func detectFile(f *os.File, size int64) (string, error) {
	head := make([]byte, 512)
	n, err := f.ReadAt(head, 0)
	if err != nil && err != io.EOF {
		return "", err
	}
	return detect(head[:n], func() (*zip.Reader, error) { return zip.NewReader(f, size) })
}

// officeType tells a Word or Excel OOXML package from any other zip archive.
func officeType(zr *zip.Reader) string {
	var types, word, excel bool
	for _, f := range zr.File {
		switch f.Name {
		case "[Content_Types].xml":
			types = true
		case "word/document.xml":
			word = true
		case "xl/workbook.xml":
			excel = true
		}
	}
	switch {
	case types && word && !excel:
		return DOCX
	case types && excel && !word:
		return XLSX
	}
	return ""
}

func humanSize(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%dMB", n>>20)
	}
	if n >= 1<<10 && n%(1<<10) == 0 {
		return fmt.Sprintf("%dKB", n>>10)
	}
	return fmt.Sprintf("%d字节", n)
}
