package crypt

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"
)

func key(t *testing.T) []byte {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func TestRoundTripAndRotation(t *testing.T) {
	oldKey, newKey := key(t), key(t)
	old, _ := NewRing([][]byte{oldKey})
	ct, err := old.Encrypt([]byte("D1234567"), []byte("uid-1"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(ct, []byte("D1234567")) {
		t.Fatal("ciphertext contains the plaintext")
	}
	rotated, _ := NewRing([][]byte{newKey, oldKey})
	pt, err := rotated.Decrypt(ct, []byte("uid-1"))
	if err != nil || string(pt) != "D1234567" {
		t.Fatalf("rotated ring: got %q, %v; want the old ciphertext to open", pt, err)
	}
	ct2, _ := rotated.Encrypt([]byte("x"), nil)
	if _, err := old.Decrypt(ct2, nil); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("old ring opened a new-key ciphertext: %v", err)
	}
	newOnly, _ := NewRing([][]byte{newKey})
	if _, err := newOnly.Decrypt(ct, []byte("uid-1")); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("a ring without the old key opened its ciphertext: %v", err)
	}
}

func TestBindingAndTampering(t *testing.T) {
	r, _ := NewRing([][]byte{key(t)})
	ct, _ := r.Encrypt([]byte("secret"), []byte("uid-1"))
	if _, err := r.Decrypt(ct, []byte("uid-2")); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("ciphertext opened under another row's uid: %v", err)
	}
	bad := append([]byte(nil), ct...)
	bad[len(bad)-1] ^= 1
	if _, err := r.Decrypt(bad, []byte("uid-1")); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("tampered ciphertext opened: %v", err)
	}
	if _, err := r.Decrypt(ct[:10], []byte("uid-1")); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("truncated ciphertext: %v", err)
	}
}

func TestNoKey(t *testing.T) {
	var r *Ring
	if _, err := r.Encrypt([]byte("x"), nil); !errors.Is(err, ErrNoKey) {
		t.Fatalf("nil ring encrypted: %v", err)
	}
	if _, err := NewRing([][]byte{make([]byte, 16)}); err == nil {
		t.Fatal("a 16-byte key was accepted")
	}
}
