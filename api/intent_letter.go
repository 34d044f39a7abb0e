package api

import (
	"errors"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"keytask/attachments"
	"keytask/domain"
	"keytask/domain/intent"
	"keytask/projections"
	"keytask/workflows"
)

// maxScanNameRunes bounds the scan's file name as the province's computer
// called it; it is shown, never used as a path.
const maxScanNameRunes = 100

// recordLetterFrom reads a 厅函 from a multipart request (fields letter_no,
// date and file) and records it through the round's workflow. The number and
// date are checked before the scan is read, and the scan's size and type
// before it is stored, so a bad letter stores nothing; the API and the form
// page both come here.
func (s *Server) recordLetterFrom(w http.ResponseWriter, r *http.Request) (workflows.LetterCommand, error) {
	cmd := workflows.LetterCommand{Province: r.PathValue("province"), Actor: metadata(r.Context())}
	if r.MultipartForm == nil {
		r.Body = http.MaxBytesReader(w, r.Body, s.files.MaxSize()+64<<10)
		if err := r.ParseMultipartForm(1 << 20); err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				return cmd, s.scanTooLarge(err)
			}
			return cmd, badRequest(attachments.Field, "请以 multipart/form-data 提交厅函文号（letter_no）、日期（date）和扫描件（file）",
				"not a multipart request: "+err.Error())
		}
	}
	cmd.Letter = intent.LetterInput{LetterNo: strings.TrimSpace(r.FormValue("letter_no")), Date: strings.TrimSpace(r.FormValue("date"))}
	if err := intent.CheckLetterFields(cmd.Letter, time.Now()); err != nil {
		return cmd, err
	}
	f, hdr, err := r.FormFile(attachments.Field)
	if err != nil {
		return cmd, domain.Invalid(attachments.Field, "请上传加盖公章的厅函扫描件（字段名 file）", "no file part: "+err.Error())
	}
	defer f.Close()
	spooled, err := s.files.Spool(f)
	var tl *attachments.TooLargeError
	if errors.As(err, &tl) {
		return cmd, s.scanTooLarge(err)
	}
	if err != nil {
		return cmd, err
	}
	defer spooled.Close()
	switch spooled.MediaType {
	case attachments.PDF, attachments.PNG, attachments.JPEG:
	default:
		return cmd, domain.Invalid(attachments.Field, "厅函扫描件须为 PDF、PNG 或 JPEG 文件", "letter scan of type "+spooled.MediaType)
	}
	cmd.Letter.Scan = intent.LetterScan{Name: clipRunes(filepath.Base(hdr.Filename), maxScanNameRunes),
		MediaType: spooled.MediaType, Size: spooled.Size, SHA256: spooled.SHA256}
	// Stored before the command: the event must never name a scan the store
	// lacks. The round is asked first whether it would take a letter, so a
	// refused one stores nothing; only a command refused in the instant
	// between leaves an unreferenced blob, which costs space only (the store
	// is addressed by content).
	if err := s.mayRecordLetter(r, cmd.Province); err != nil {
		return cmd, err
	}
	if _, _, err := s.files.Keep(r.Context(), spooled); err != nil {
		return cmd, err
	}
	return cmd, s.update(r, workflows.UpdateRecordLetter, cmd, nil)
}

// mayRecordLetter asks the round's workflow (its query, not a read model)
// whether the province may record a letter now. A round whose workflow does
// not answer is left to the command, which reports why.
func (s *Server) mayRecordLetter(r *http.Request, province string) error {
	if s.tc == nil {
		return nil
	}
	v, err := s.tc.QueryWorkflow(r.Context(), workflows.IntentRoundWorkflowID(r.PathValue("round")), "", workflows.QueryIntentRoundStatus)
	if err != nil {
		return nil
	}
	var st workflows.IntentRoundStatus
	if err := v.Get(&st); err != nil {
		return nil
	}
	fs, ok := st.Provinces[province]
	if !ok {
		return nil
	}
	rs := intent.RoundState{RoundID: st.RoundID, Provinces: map[string]intent.ProvinceState{
		province: {Status: intent.Status(fs.Status), Letter: fs.Letter}}}
	return rs.MayRecordLetter(province)
}

func (s *Server) scanTooLarge(err error) error {
	tl := attachments.TooLarge(s.files.MaxSize())
	var fe *domain.FieldError
	errors.As(tl, &fe)
	return &httpError{status: http.StatusRequestEntityTooLarge, field: fe.Field, message: fe.Message, detail: err.Error()}
}

func clipRunes(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n])
	}
	return s
}

// recordLetter: POST …/provinces/{province}/letter (multipart).
func (s *Server) recordLetter(w http.ResponseWriter, r *http.Request) error {
	cmd, err := s.recordLetterFrom(w, r)
	if err != nil {
		return err
	}
	l := cmd.Letter
	writeJSON(w, http.StatusCreated, map[string]any{"round_id": r.PathValue("round"), "province": cmd.Province,
		"letter_no": l.LetterNo, "date": l.Date, "file_name": l.Scan.Name, "media_type": l.Scan.MediaType,
		"size": l.Scan.Size, "sha256": l.Scan.SHA256, "arrived": false})
	return nil
}

// markLetterArrived: the ministry has the province's 厅函 in hand.
func (s *Server) markLetterArrived(w http.ResponseWriter, r *http.Request) error {
	cmd := workflows.ArrivalCommand{Province: r.PathValue("province"), Actor: metadata(r.Context())}
	if err := s.update(r, workflows.UpdateLetterArrived, cmd, nil); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"round_id": r.PathValue("round"), "province": cmd.Province, "arrived": true})
	return nil
}

// letterScan sends the stamped scan of the province's 厅函.
func (s *Server) letterScan(w http.ResponseWriter, r *http.Request) error {
	v, err := s.formOf(r)
	if err != nil {
		return err
	}
	if v.Letter == nil {
		return notFound("该省尚未登记厅函", "no letter recorded")
	}
	a, data, err := s.files.Get(r.Context(), v.Letter.SHA256)
	if errors.Is(err, attachments.ErrNotFound) {
		return notFound("厅函扫描件不存在", err.Error())
	}
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", a.MediaType)
	w.Header().Set("Content-Length", strconv.FormatInt(a.Size, 10))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Disposition", "attachment")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(data)
	return nil
}

// letterRecorded tells whether the read model shows the letter cmd recorded.
func (s *Server) letterRecorded(r *http.Request, cmd workflows.LetterCommand) bool {
	v, err := projections.GetForm(r.Context(), s.pool, r.PathValue("round"), cmd.Province)
	return err == nil && v.Letter != nil && v.Letter.SHA256 == cmd.Letter.Scan.SHA256 && v.Letter.LetterNo == cmd.Letter.LetterNo
}
