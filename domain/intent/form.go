package intent

import "encoding/json"

// FormInput is an intent form as a client sends it. Values stay raw JSON until
// Validate reads them, so that a wrong type ("abc" for money, a string for a
// quantity) is reported against the exact field that carries it.
type FormInput struct {
	Lines []LineInput `json:"lines"`
	// Total, when sent, must equal the server's total (投入经费汇总 of the form).
	Total json.RawMessage `json:"total,omitempty"`
}

// LineInput is one row of a FormInput.
type LineInput struct {
	Item      string                     `json:"item"`
	Undertake json.RawMessage            `json:"undertake,omitempty"` // true or false
	Quantity  json.RawMessage            `json:"quantity,omitempty"`  // a non-negative integer
	Funds     map[string]json.RawMessage `json:"funds,omitempty"`     // source → 万元, number or string
	Total     json.RawMessage            `json:"total,omitempty"`     // optional; must equal the server's sum
}
