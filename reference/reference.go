// Package reference embeds the ministry's reference data that keytask ships with:
// the first batch of key tasks as the notice lists them and the 32 provincial
// units. It is data for demo seeding and tests; the platform itself learns the
// tasks only from the events the ministry records.
package reference

import (
	_ "embed"
)

// KeyTasks2022Batch1 is key-tasks-2022-batch1.csv (item,code,name,target,unit,kind).
//
//go:embed key-tasks-2022-batch1.csv
var KeyTasks2022Batch1 []byte

// Provinces is provinces.csv (code,name,short_name).
//
//go:embed provinces.csv
var Provinces []byte
