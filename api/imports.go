package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"

	"keytask/app"
	"keytask/domain"
	"keytask/domain/identity"
	"keytask/domain/importrows"
	"keytask/domain/policy"
	"keytask/events"
	"keytask/imports"
)

// kindImport is the ministry's bulk import of its registers.
const kindImport policy.Kind = "import"

// maxImportBytes bounds an uploaded register: 20,000 rows of a few columns
// fit in a few MB.
const maxImportBytes = 20 << 20

func (s *Server) importRoutes() []Route {
	const path = "/api/v1/imports/{sheet}"
	return []Route{
		{Pattern: "GET " + path + "/template.xlsx", Action: policy.ActionRead, Resource: national(kindImport), handle: s.importTemplate},
		{Pattern: "POST " + path + "/dry-run", Action: policy.ActionAdminister, Resource: national(kindImport), handle: s.importDryRun},
		{Pattern: "POST " + path, Action: policy.ActionAdminister, Resource: national(kindImport), handle: s.importRegister},
	}
}

// sheetOf is the register the path names. Errors: 404 for another name.
func sheetOf(r *http.Request) (importrows.Sheet, error) {
	sheet := importrows.Sheet(r.PathValue("sheet"))
	if !slices.Contains(importrows.Sheets, sheet) {
		return sheet, notFound("没有这种名录：可导入 schools（技工院校）、experts（专家）、users（用户）", "unknown sheet "+clipText(string(sheet)))
	}
	return sheet, nil
}

func (s *Server) importTemplate(w http.ResponseWriter, r *http.Request) error {
	sheet, err := sheetOf(r)
	if err != nil {
		return err
	}
	return sendFile(w, contentTypeXLSX, fmt.Sprintf("import-%s.xlsx", sheet), sheet.Title()+"导入模板.xlsx",
		func(b *bytes.Buffer) error {
			data, err := imports.Template(sheet)
			b.Write(data)
			return err
		})
}

func (s *Server) importDryRun(w http.ResponseWriter, r *http.Request) error {
	return s.runImport(w, r, true)
}

func (s *Server) importRegister(w http.ResponseWriter, r *http.Request) error {
	return s.runImport(w, r, false)
}

// runImport reads the uploaded file (multipart field "file") and imports it,
// or with dryRun only checks it. A file with bad rows answers the dry run 200
// and the import 422, each with the report of every bad row; the import then
// writes nothing.
func (s *Server) runImport(w http.ResponseWriter, r *http.Request, dryRun bool) error {
	sheet, err := sheetOf(r)
	if err != nil {
		return err
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxImportBytes)
	mr, err := r.MultipartReader()
	if err != nil {
		return badRequest("file", "请以 multipart/form-data 上传文件，字段名为 file", "not a multipart request: "+err.Error())
	}
	var rows []imports.Row
	for {
		part, err := mr.NextPart()
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			return &httpError{status: http.StatusRequestEntityTooLarge, field: "file",
				message: fmt.Sprintf("文件不能超过%d MB", maxImportBytes>>20), detail: "import file too large"}
		case err == io.EOF:
			return domain.Invalid("file", "请选择要导入的文件（字段名 file）", "no file part")
		case err != nil:
			return badRequest("file", "上传内容无法读取，请重新上传", "read multipart: "+err.Error())
		}
		if part.FormName() != "file" {
			continue
		}
		if rows, err = imports.Read(part.FileName(), part, sheet); err != nil {
			if errors.As(err, &mbe) {
				return &httpError{status: http.StatusRequestEntityTooLarge, field: "file",
					message: fmt.Sprintf("文件不能超过%d MB", maxImportBytes>>20), detail: "import file too large"}
			}
			return err
		}
		break
	}
	report, err := s.app.ImportRegister(r.Context(), app.ImportRegister{
		Request: appRequest(r, ""), Sheet: sheet, Rows: rows, DryRun: dryRun, RegisterUser: s.registerUserForImport,
	})
	if err != nil {
		return err
	}
	if len(report.Errors) > 0 && !dryRun {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{
			"error":  fmt.Sprintf("文件中有%d处错误，未导入任何记录；请按报告修改后重新导入", len(report.Errors)),
			"field":  "file",
			"report": report,
		})
		return nil
	}
	writeJSON(w, http.StatusOK, map[string]any{"report": report})
	return nil
}

// registerUserForImport registers an imported user as POST /api/v1/users does.
func (s *Server) registerUserForImport(ctx context.Context, meta events.Metadata, user identity.Principal) (bool, error) {
	reg, err := RegisterUser(ctx, s.store, meta, "", user)
	return reg.Replayed, err
}
