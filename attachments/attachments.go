// Package attachments stores the files that applications carry, addressed by
// their SHA-256 in Postgres: a file is inserted once and never changed, so the
// same content uploaded twice is stored once. It decides a file's type by its
// content, never by what the client claims, and refuses oversized files and
// types that are not allowed.
package attachments

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"
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

// Put reads a whole file from r, checks its size and type, and stores it unless
// its content is stored already (created is false then). Errors: *TooLargeError,
// *domain.FieldError for "file" (empty, or a type not allowed).
func (s *Store) Put(ctx context.Context, r io.Reader) (a Attachment, created bool, err error) {
	data, err := io.ReadAll(io.LimitReader(r, s.maxSize+1))
	if err != nil {
		return a, false, fmt.Errorf("read attachment: %w", err)
	}
	if int64(len(data)) > s.maxSize {
		return a, false, TooLarge(s.maxSize)
	}
	mediaType, err := Detect(data)
	if err != nil {
		return a, false, err
	}
	sum := sha256.Sum256(data)
	a = Attachment{SHA256: hex.EncodeToString(sum[:]), Size: int64(len(data)), MediaType: mediaType}
	// ON CONFLICT DO NOTHING needs no UPDATE grant, and the first copy wins: the
	// same hash is the same bytes.
	tag, err := s.pool.Exec(ctx, `INSERT INTO attachments (sha256, size, media_type, data) VALUES ($1, $2, $3, $4)
		ON CONFLICT (sha256) DO NOTHING`, a.SHA256, a.Size, a.MediaType, data)
	if err != nil {
		return a, false, fmt.Errorf("store attachment %s: %w", a.SHA256, err)
	}
	stored, err := s.Stat(ctx, a.SHA256)
	if err != nil {
		return a, false, err
	}
	return stored, tag.RowsAffected() == 1, nil
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
	if len(data) == 0 {
		return "", domain.Invalid(Field, "文件为空，请重新选择文件", "empty file")
	}
	switch sniffed := http.DetectContentType(data); sniffed {
	case PDF, PNG, JPEG:
		return sniffed, nil
	case "application/zip":
		if t := officeType(data); t != "" {
			return t, nil
		}
	}
	return "", domain.Invalid(Field, "只能上传 PDF、PNG、JPEG 图片或 Word（.docx）、Excel（.xlsx）文件",
		"file type "+http.DetectContentType(data)+" is not allowed")
}

// officeType tells a Word or Excel OOXML package from any other zip archive.
func officeType(data []byte) string {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return ""
	}
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
