package storage

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"
	_ "gocloud.dev/blob/memblob" // mem:// for tests that need no disk
	_ "gocloud.dev/blob/s3blob"  // s3:// (AWS S3, MinIO, R2, ...) in production
	"gocloud.dev/gcerrors"

	"github.com/turnoutdev/turnout/internal/fault"
)

// Blobs stores the files Turnout produces (PDFs, reports, error files) and
// spools. Keys are slash-separated paths such as "pdf/ab12….pdf".
type Blobs interface {
	// Put stores r under key, replacing any earlier object atomically: a
	// reader never sees a half-written object.
	Put(ctx context.Context, key string, r io.Reader, contentType string) error
	// Open returns the object; a missing object is a NotFound fault.
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	// Exists reports whether key is stored.
	Exists(ctx context.Context, key string) (bool, error)
	// Delete removes key; a missing key is not an error.
	Delete(ctx context.Context, key string) error
	Close() error
}

// OpenBlobs opens the store named by rawURL: file:///abs/dir or
// file://./relative/dir (local disk), s3://bucket?region=…&endpoint=…
// (S3-compatible) or mem:// (in memory).
func OpenBlobs(ctx context.Context, rawURL string) (Blobs, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("blob url: %w", err)
	}
	var b *blob.Bucket
	if u.Scheme == "file" {
		// gocloud reads file://./x as host "." and path "/x"; keep it relative.
		dir := u.Path
		if u.Host != "" {
			dir = u.Host + u.Path
		}
		if dir, err = filepath.Abs(dir); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("blob dir: %w", err)
		}
		// NoTempDir: temp files beside the target so the final rename never
		// crosses file systems.
		b, err = fileblob.OpenBucket(dir, &fileblob.Options{NoTempDir: true, DirFileMode: 0o750})
	} else {
		b, err = blob.OpenBucket(ctx, rawURL)
	}
	if err != nil {
		return nil, fmt.Errorf("open blob store %s://%s: %w", u.Scheme, u.Host, err)
	}
	return &bucketBlobs{b: b}, nil
}

type bucketBlobs struct{ b *blob.Bucket }

func (s *bucketBlobs) Put(ctx context.Context, key string, r io.Reader, contentType string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	// Cancelling the writer's context before Close discards the object, so
	// a failed copy never leaves a partial blob behind.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := s.b.NewWriter(wctx, key, &blob.WriterOptions{ContentType: contentType})
	if err != nil {
		return fmt.Errorf("blob put %s: %w", key, err)
	}
	if _, err := io.Copy(w, r); err != nil {
		cancel()
		_ = w.Close()
		return fmt.Errorf("blob put %s: %w", key, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("blob put %s: %w", key, err)
	}
	return nil
}

func (s *bucketBlobs) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	r, err := s.b.NewReader(ctx, key, nil)
	if gcerrors.Code(err) == gcerrors.NotFound {
		return nil, fault.New(fault.NotFound, "file not found")
	}
	if err != nil {
		return nil, fmt.Errorf("blob open %s: %w", key, err)
	}
	return r, nil
}

func (s *bucketBlobs) Exists(ctx context.Context, key string) (bool, error) {
	if err := checkKey(key); err != nil {
		return false, err
	}
	return s.b.Exists(ctx, key)
}

func (s *bucketBlobs) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	err := s.b.Delete(ctx, key)
	if gcerrors.Code(err) == gcerrors.NotFound {
		return nil
	}
	return err
}

func (s *bucketBlobs) Close() error { return s.b.Close() }

// checkKey rejects keys that could escape the bucket's directory.
func checkKey(key string) error {
	if key == "" || strings.HasPrefix(key, "/") || strings.Contains(key, "..") || strings.Contains(key, "\\") {
		return fault.New(fault.Invalid, "invalid blob key")
	}
	return nil
}
