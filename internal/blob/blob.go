// Package blob stores evidence (sealed partner answers) and exports (CSV
// files for finance) as opaque objects under string keys, in S3 in
// production and on the file system in dev mode.
//
// Keys never contain personal data. Callers build them from ids only, for
// example "evidence/ins_01J…/ver_01J…/chk_01J….bin" or
// "exports/ins_01J…/use_2026-01.csv": keys appear in access logs, S3
// inventories, presigned URLs and browser histories, so a name, a date of
// birth or a document number must never be part of one. What is personal
// inside a body is sealed by the vault before it is stored.
//
// A key is one or more segments separated by '/'. Each segment starts with a
// letter or digit and holds only letters, digits, '.', '_' and '-'; a key
// has at most 512 bytes. Anything else, in particular "..", an absolute path
// or a backslash, is refused with errs.Invalid before any I/O.
package blob

import (
	"context"
	"errors"
	"io"
	"strings"
	"time"

	"github.com/borderproof/borderproof/internal/errs"
)

// Store holds blobs. Implementations: S3 and FS.
type Store interface {
	// Put stores size bytes read from body under key, replacing any blob
	// there. A body shorter or longer than size is refused, and nothing
	// is stored.
	Put(ctx context.Context, key string, body io.Reader, size int64, contentType string) error
	// Get opens the blob; errs.NotFound when there is none. The caller
	// closes the reader.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// Delete removes the blob; deleting a missing blob is not an error.
	Delete(ctx context.Context, key string) error
	// Exists reports whether a blob is stored under key.
	Exists(ctx context.Context, key string) (bool, error)
	// List returns the keys that start with prefix, in byte order.
	List(ctx context.Context, prefix string) ([]string, error)
	// SignedURL returns a URL that lets anyone holding it download the blob
	// with a plain GET until ttl has passed.
	SignedURL(ctx context.Context, key string, ttl time.Duration) (string, error)
}

// MaxKeyLen bounds the length of a key.
const MaxKeyLen = 512

// MaxSignedURLTTL bounds the lifetime of a signed URL (S3's limit for
// presigned URLs).
const MaxSignedURLTTL = 7 * 24 * time.Hour

// ValidateKey reports whether key is acceptable (see the package doc).
func ValidateKey(key string) error {
	if key == "" || len(key) > MaxKeyLen {
		return errs.E(errs.Invalid, "invalid blob key")
	}
	start := true
	for i := 0; i < len(key); i++ {
		c := key[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		switch {
		case c == '/':
			if start { // empty segment or leading '/'
				return errs.E(errs.Invalid, "invalid blob key")
			}
			start = true
		case start:
			if !alnum {
				return errs.E(errs.Invalid, "invalid blob key")
			}
			start = false
		case alnum || c == '.' || c == '_' || c == '-':
		default:
			return errs.E(errs.Invalid, "invalid blob key")
		}
	}
	if start { // trailing '/'
		return errs.E(errs.Invalid, "invalid blob key")
	}
	return nil
}

func checkPut(key string, size int64) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	if size < 0 {
		return errs.E(errs.Invalid, "blob size must be known")
	}
	return nil
}

func checkTTL(ttl time.Duration) error {
	if ttl <= 0 || ttl > MaxSignedURLTTL {
		return errs.E(errs.Invalid, "signed URL lifetime must be between 1s and 7 days")
	}
	return nil
}

// sizeMismatch is returned when a body does not hold the announced size.
func sizeMismatch() error {
	return errs.E(errs.Invalid, "blob body does not match its declared size")
}

var errSizeMismatch = errors.New("blob: body does not match its declared size")

// exactReader yields exactly left bytes of r and fails when r holds fewer or
// more. The last byte is read together with a probe for one more, so a body
// that is too long fails before its final byte is handed on and the server
// never receives a complete request.
type exactReader struct {
	r    io.Reader
	left int64
	err  error
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if e.left <= 1 {
		var buf [2]byte
		want := int(e.left) + 1
		n, err := io.ReadFull(e.r, buf[:want])
		switch {
		case err != nil && err != io.EOF && err != io.ErrUnexpectedEOF:
			e.err = err
		case n != int(e.left):
			e.err = errSizeMismatch
		default:
			copy(p, buf[:n])
			e.left, e.err = 0, io.EOF
			return n, nil
		}
		return 0, e.err
	}
	if int64(len(p)) > e.left-1 {
		p = p[:e.left-1]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	switch {
	case err == io.EOF:
		e.err = errSizeMismatch
	case err != nil:
		e.err = err
	}
	return n, e.err
}

// mismatch reports whether the body did not hold the declared size.
func (e *exactReader) mismatch() bool { return errors.Is(e.err, errSizeMismatch) }

var (
	_ Store = (*S3)(nil)
	_ Store = (*FS)(nil)
)

// checkPrefix accepts what List may be asked for: a key, or a key and '/'.
func checkPrefix(prefix string) error {
	return ValidateKey(strings.TrimSuffix(prefix, "/"))
}
