package api

import (
	"encoding/json"
	"fmt"

	"keytask/domain/identity"
	"keytask/domain/privacy"
	"keytask/projections"
)

// Every read path that can carry personal data passes it through package
// privacy here or in projections, so pages and API withhold the same fields.

// withholdObjectors blanks who filed each objection unless p may read it.
func withholdObjectors(p identity.Principal, objs []projections.BatchObjectionRecord) {
	if privacy.MayRead(p, privacy.Objector, "") {
		return
	}
	for i := range objs {
		objs[i].Name, objs[i].Contact = "", ""
	}
}

// redactTableRows withholds the personal columns of a read-model table's rows.
func redactTableRows(p identity.Principal, table string, rows []json.RawMessage) error {
	for i, row := range rows {
		out, _, err := privacy.Row(p, table, row)
		if err != nil {
			return fmt.Errorf("rows of %s: %w", table, err)
		}
		rows[i] = out
	}
	return nil
}

// redactDiff withholds the personal columns of the rows a diff shows.
func redactDiff(p identity.Principal, d *projections.Diff) error {
	for i := range d.Tables {
		td := &d.Tables[i]
		for _, rows := range [][]string{td.AddedRows, td.RemovedRows} {
			for j, row := range rows {
				out, _, err := privacy.Row(p, td.Table, json.RawMessage(row))
				if err != nil {
					return fmt.Errorf("diff of %s: %w", td.Table, err)
				}
				rows[j] = string(out)
			}
		}
	}
	return nil
}
