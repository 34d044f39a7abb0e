package temporalx

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"
)

// Workflow inputs, update arguments and activity results carry personal data
// (an objector's name and phone); Temporal keeps them in its history, which the
// Temporal UI shows to anyone who reaches it. Every payload is therefore
// sealed with AES-256-GCM before it leaves a keytask process.
const (
	// EncodingEncrypted marks a sealed payload in its metadata.
	EncodingEncrypted = "binary/encrypted"
	// MetadataKeyID names the key that sealed a payload.
	MetadataKeyID = "encryption-key-id"
	// PayloadKeySize is the key length, in bytes (AES-256).
	PayloadKeySize = 32
)

// Codec is a converter.PayloadCodec that seals payloads with one key and
// opens those it sealed. A payload without the encrypted encoding (one
// recorded before the codec, or by a tool) passes through unchanged, so old
// histories still replay.
type Codec struct {
	keyID string
	aead  cipher.AEAD
}

// NewCodec returns a codec for a PayloadKeySize-byte key.
func NewCodec(key []byte) (*Codec, error) {
	if len(key) != PayloadKeySize {
		return nil, fmt.Errorf("temporalx: payload key must be %d bytes, not %d", PayloadKeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(append([]byte("keytask payload key id\x00"), key...))
	return &Codec{keyID: hex.EncodeToString(sum[:8]), aead: aead}, nil
}

// KeyID names the codec's key without revealing it.
func (c *Codec) KeyID() string { return c.keyID }

// Encode implements converter.PayloadCodec.
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plain, err := proto.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("temporalx: seal payload: %w", err)
		}
		nonce := make([]byte, c.aead.NonceSize())
		if _, err := rand.Read(nonce); err != nil {
			return nil, fmt.Errorf("temporalx: seal payload: %w", err)
		}
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{converter.MetadataEncoding: []byte(EncodingEncrypted), MetadataKeyID: []byte(c.keyID)},
			Data:     c.aead.Seal(nonce, nonce, plain, []byte(c.keyID)),
		}
	}
	return out, nil
}

// ErrPayloadKey is a sealed payload this codec's key did not seal.
var ErrPayloadKey = errors.New("payload sealed with another key")

// Decode implements converter.PayloadCodec.
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()[converter.MetadataEncoding]) != EncodingEncrypted {
			out[i] = p
			continue
		}
		if id := string(p.GetMetadata()[MetadataKeyID]); id != c.keyID {
			return nil, fmt.Errorf("temporalx: %w: key %s, this process holds %s", ErrPayloadKey, id, c.keyID)
		}
		n := c.aead.NonceSize()
		if len(p.GetData()) < n {
			return nil, errors.New("temporalx: sealed payload too short")
		}
		plain, err := c.aead.Open(nil, p.Data[:n], p.Data[n:], []byte(c.keyID))
		if err != nil {
			return nil, fmt.Errorf("temporalx: open payload: %w", err)
		}
		var q commonpb.Payload
		if err := proto.Unmarshal(plain, &q); err != nil {
			return nil, fmt.Errorf("temporalx: open payload: %w", err)
		}
		out[i] = &q
	}
	return out, nil
}

// DataConverter is the default converter with every payload sealed by c.
func DataConverter(c *Codec) converter.DataConverter {
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), c)
}
