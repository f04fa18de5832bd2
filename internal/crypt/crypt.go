// Package crypt encrypts small values at rest (a registrant's ID number)
// with AES-256-GCM under a rotatable key ring.
//
// A ciphertext is: version byte (1) | key id (4 bytes, the first bytes of
// SHA-256 of the key) | 12-byte random nonce | sealed data. The first key of
// the ring encrypts; any key of the ring decrypts, chosen by the key id, so
// an operator rotates by putting a new key first and keeping the old ones
// until every row has been re-encrypted or has expired. The caller's
// associated data (a row's unguessable uid) binds a ciphertext to its row:
// copied to another row it no longer decrypts.
package crypt

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
)

const (
	version   = 1
	headerLen = 1 + 4
	nonceLen  = 12
)

// ErrNoKey is returned when the ring is empty: nothing may be stored that
// would have to be stored in clear.
var ErrNoKey = errors.New("no encryption key configured (set TURNOUT_ENCRYPTION_KEY)")

// ErrDecrypt hides why a ciphertext failed to open (wrong key, tampering,
// truncation): the reason is not something a caller can act on.
var ErrDecrypt = errors.New("ciphertext cannot be decrypted with the configured keys")

// Ring is a set of AES-256 keys. The zero Ring and a nil *Ring have no keys.
type Ring struct {
	aeads []cipher.AEAD
	ids   []uint32
}

// NewRing returns a ring over keys (32 bytes each); keys[0] encrypts.
func NewRing(keys [][]byte) (*Ring, error) {
	r := &Ring{}
	for i, k := range keys {
		if len(k) != 32 {
			return nil, fmt.Errorf("key %d: want 32 bytes, got %d", i+1, len(k))
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(k)
		r.aeads = append(r.aeads, aead)
		r.ids = append(r.ids, binary.BigEndian.Uint32(sum[:4]))
	}
	return r, nil
}

// Enabled reports whether the ring has a key to encrypt with.
func (r *Ring) Enabled() bool { return r != nil && len(r.aeads) > 0 }

// Encrypt seals plaintext under the first key, bound to ad.
func (r *Ring) Encrypt(plaintext, ad []byte) ([]byte, error) {
	if !r.Enabled() {
		return nil, ErrNoKey
	}
	out := make([]byte, headerLen+nonceLen, headerLen+nonceLen+len(plaintext)+r.aeads[0].Overhead())
	out[0] = version
	binary.BigEndian.PutUint32(out[1:5], r.ids[0])
	if _, err := rand.Read(out[headerLen:]); err != nil {
		return nil, err
	}
	return r.aeads[0].Seal(out, out[headerLen:], plaintext, ad), nil
}

// Decrypt opens a ciphertext made by Encrypt with any key of the ring.
func (r *Ring) Decrypt(ciphertext, ad []byte) ([]byte, error) {
	if !r.Enabled() {
		return nil, ErrNoKey
	}
	if len(ciphertext) < headerLen+nonceLen || ciphertext[0] != version {
		return nil, ErrDecrypt
	}
	id := binary.BigEndian.Uint32(ciphertext[1:5])
	for i, kid := range r.ids {
		if kid != id {
			continue
		}
		pt, err := r.aeads[i].Open(nil, ciphertext[headerLen:headerLen+nonceLen], ciphertext[headerLen+nonceLen:], ad)
		if err == nil {
			return pt, nil
		}
	}
	return nil, ErrDecrypt
}
