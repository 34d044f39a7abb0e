package app

import (
	"context"
	"io"

	"keytask/domain/selection"
)

// AttachFile stores a file by its content hash and attaches it to an
// application.
type AttachFile struct {
	Request
	ApplicationID string
	// Open gives the file's name on the client and its content, which is read
	// to its end, up to the store's size limit. It is called only once the
	// application is known to take files, so a refused upload is never read.
	Open func() (name string, content io.Reader, err error)
}

// AttachedFile is the attachment the application holds.
type AttachedFile struct {
	selection.ApplicationAttachmentAdded
	Replayed bool // the application already held this content
}

// AttachFile checks that the application takes files before it reads the
// content, spools the content to a temporary file (memory stays bounded), and
// then, one upload per application at a time, decides against the stream as
// it is now (the number of files and their total size included) before the
// blob is stored, so a refused upload leaves nothing behind. The same content
// attached again appends nothing; an idempotency key used before for other
// content is refused. Errors: *NotFoundError, *attachments.TooLargeError,
// *domain.FieldError for "file" or "Idempotency-Key", *domain.ConflictError
// when the application is closed to changes or full, and Open's error.
func (a *App) AttachFile(ctx context.Context, cmd AttachFile) (AttachedFile, error) {
	var out AttachedFile
	app, err := a.Application(ctx, cmd.ApplicationID)
	if err != nil {
		return out, err
	}
	// The correction window a returned application is edited in is the batch's.
	if now := a.batchNow(); !app.Editable(now) {
		_, _, err := selection.AddAttachment(app, selection.ApplicationAttachmentAdded{}, now)
		return out, err
	}
	name, content, err := cmd.Open()
	if err != nil {
		return out, err
	}
	spooled, err := a.files.Spool(content)
	if err != nil {
		return out, err
	}
	defer spooled.Close()

	// Two uploads decided on the same version would both pass the limits;
	// the append's expected version still refuses the second in another process.
	defer a.uploads.lock(cmd.ApplicationID)()
	app, recorded, err := a.application(ctx, cmd.ApplicationID)
	if err != nil {
		return out, err
	}
	att, added, err := selection.AddAttachment(app, selection.ApplicationAttachmentAdded{
		AttachmentID: spooled.SHA256[:16], Name: name, MediaType: spooled.MediaType, Size: spooled.Size, SHA256: spooled.SHA256,
	}, a.batchNow())
	if err != nil {
		return out, err
	}
	out.ApplicationAttachmentAdded, out.Replayed = att, !added
	id := EventID(cmd.Meta, cmd.Key, selection.TypeApplicationAttachmentAdded, app.ID, spooled.SHA256)
	if again, err := replayed(recorded, id, att, cmd.Key); err != nil || again || !added {
		out.Replayed = out.Replayed || again
		return out, err
	}
	if _, _, err := a.files.Keep(ctx, spooled); err != nil {
		return out, err
	}
	return out, a.appendOne(ctx, selection.ApplicationStream(app.ID), app.Version, id, selection.TypeApplicationAttachmentAdded, att, cmd.Meta)
}
