package temporalx_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"

	"keytask/temporalx"
)

type objection struct {
	Name    string `json:"name"`
	Contact string `json:"contact"`
}

func TestCodecSealsPayloads(t *testing.T) {
	c, err := temporalx.NewCodec(bytes.Repeat([]byte{1}, temporalx.PayloadKeySize))
	if err != nil {
		t.Fatal(err)
	}
	dc := temporalx.DataConverter(c)
	in := objection{Name: "王某某", Contact: "13800138000"}
	p, err := dc.ToPayload(in)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(p.Data, []byte("13800138000")) || strings.Contains(p.String(), "13800138000") ||
		string(p.Metadata[converter.MetadataEncoding]) != temporalx.EncodingEncrypted {
		t.Fatalf("the payload Temporal stores shows the objector: %v", p)
	}
	var out objection
	if err := dc.FromPayload(p, &out); err != nil || out != in {
		t.Fatalf("opened %+v, %v", out, err)
	}

	// A payload recorded before the codec (in clear) is read as it is.
	clear, err := converter.GetDefaultDataConverter().ToPayload(in)
	if err != nil {
		t.Fatal(err)
	}
	out = objection{}
	if err := dc.FromPayload(clear, &out); err != nil || out != in {
		t.Fatalf("a clear payload: %+v, %v", out, err)
	}

	// Another key opens nothing, and a tampered payload is refused.
	other, _ := temporalx.NewCodec(bytes.Repeat([]byte{2}, temporalx.PayloadKeySize))
	if _, err := other.Decode([]*commonpb.Payload{p}); !errors.Is(err, temporalx.ErrPayloadKey) {
		t.Errorf("another key: %v", err)
	}
	bad := &commonpb.Payload{Metadata: p.Metadata, Data: append([]byte(nil), p.Data...)}
	bad.Data[len(bad.Data)-1] ^= 1
	if _, err := c.Decode([]*commonpb.Payload{bad}); err == nil {
		t.Error("a tampered payload was opened")
	}
	if _, err := temporalx.NewCodec([]byte("short")); err == nil {
		t.Error("a short key was taken")
	}
}
