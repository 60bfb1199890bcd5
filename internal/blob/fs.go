package blob

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/borderproof/borderproof/internal/errs"
)

// FSConfig configures the file-system store.
type FSConfig struct {
	// Root is the directory that holds every blob (created if missing).
	Root string
	// BaseURL is the public origin of the process that mounts Handler, for
	// example "http://localhost:8080"; signed URLs point at
	// BaseURL/blobs/<key>.
	BaseURL string
	// SigningKey authenticates signed URLs (at least 32 bytes). Every
	// process that signs or serves URLs for one Root shares it.
	SigningKey []byte
	// NoSync skips fsync after each write. Faster, but a blob written just
	// before a power cut may be lost: for dev mode and load runs, never
	// for evidence that must survive (production keeps evidence on S3).
	NoSync bool
}

// MinSigningKeyLen is the shortest acceptable FSConfig.SigningKey.
const MinSigningKeyLen = 32

// Validate names the bad setting.
func (c FSConfig) Validate() error {
	var f errs.Fields
	if c.Root == "" {
		f.Add("blob.root", "is required")
	}
	if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.RawQuery != "" || u.Fragment != "" {
		f.Add("blob.baseUrl", "must be an absolute http or https URL")
	}
	if len(c.SigningKey) < MinSigningKeyLen {
		f.Add("blob.signingKey", "must have at least %d bytes", MinSigningKeyLen)
	}
	return f.Err()
}

// FS is a Store in a local directory, for dev mode. Blob bodies live under
// Root/data/<key> and content types other than the one the key's extension
// implies (impliedContentType) under Root/meta/<key>; every access goes through an os.Root, so neither a
// key nor a symbolic link can reach outside Root. Writes are atomic (temporary file, fsync, rename).
// Signed URLs are served by Handler.
type FS struct {
	noSync  bool
	root    *os.Root
	baseURL string
	key     []byte
	log     *slog.Logger
	now     func() time.Time
	// dirs holds the directories below root known to exist, so a write
	// into one skips MkdirAll (a system call per path segment). Blobs are
	// deleted, directories never are. Cleared at maxKnownDirs entries.
	dirs      sync.Map
	dirsCount atomic.Int64
}

// maxKnownDirs bounds FS.dirs (evidence has a directory per verification).
const maxKnownDirs = 10_000

const (
	dataDir = "data"
	metaDir = "meta"
	// MountPath is where the api process mounts Handler.
	MountPath = "/blobs/"
)

// NewFS opens (creating if needed) the store's directory.
func NewFS(cfg FSConfig, logger *slog.Logger) (*FS, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Root, 0o700); err != nil {
		return nil, errs.Wrap(err, errs.FailedPrecondition, "blob directory cannot be created")
	}
	root, err := os.OpenRoot(cfg.Root)
	if err != nil {
		return nil, errs.Wrap(err, errs.FailedPrecondition, "blob directory cannot be opened")
	}
	for _, d := range []string{dataDir, metaDir} {
		if err := root.MkdirAll(d, 0o700); err != nil {
			root.Close()
			return nil, errs.Wrap(err, errs.FailedPrecondition, "blob directory cannot be created")
		}
	}
	return &FS{
		noSync:  cfg.NoSync,
		root:    root,
		baseURL: strings.TrimRight(cfg.BaseURL, "/"),
		key:     append([]byte(nil), cfg.SigningKey...),
		log:     logger,
		now:     time.Now,
	}, nil
}

// Close releases the directory.
func (f *FS) Close() error { return f.root.Close() }

// Put implements Store.
func (f *FS) Put(ctx context.Context, key string, body io.Reader, size int64, contentType string) error {
	if err := checkPut(key, size); err != nil {
		return err
	}
	if contentType == "" {
		contentType = defaultContentType
	}
	if _, _, err := mime.ParseMediaType(contentType); err != nil {
		return errs.E(errs.Invalid, "invalid content type")
	}
	if err := ctx.Err(); err != nil {
		return errs.Wrap(err, errs.Unavailable, "blob write cancelled")
	}
	// Body first: a failed write leaves the previous blob as it was.
	if err := f.writeAtomic(path.Join(dataDir, key), &ctxReader{ctx: ctx, r: body}, size); err != nil {
		return err
	}
	meta := path.Join(metaDir, key)
	if contentType == impliedContentType(key) {
		// The key implies it: no file; drop one left by an earlier Put.
		if err := f.root.Remove(meta); err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
			return f.ioError(err, "blob could not be stored")
		}
		return nil
	}
	return f.writeAtomic(meta, strings.NewReader(contentType), int64(len(contentType)))
}

// defaultContentType is the content type of a blob whose key's extension
// implies none.
const defaultContentType = "application/octet-stream"

// impliedTypes are the content types the service's own keys imply by
// their extension (evidence bundles and manifests, usage exports); a fixed
// table, not the machine's mime.types, so a blob reads back the same
// everywhere. A blob stored with its key's type costs one file, not two.
var impliedTypes = map[string]string{
	".json": "application/json",
	".csv":  "text/csv; charset=utf-8",
	".tar":  "application/x-tar",
}

// impliedContentType is the content type a blob without a meta file has.
func impliedContentType(key string) string {
	if t, ok := impliedTypes[path.Ext(key)]; ok {
		return t
	}
	return defaultContentType
}

// openDir opens dir below root as a root of its own, creating it first
// unless it is known to exist; name operations inside it then resolve one
// segment instead of every segment of the path.
func (f *FS) openDir(dir string) (*os.Root, error) {
	if _, ok := f.dirs.Load(dir); ok {
		d, err := f.root.OpenRoot(dir)
		if err == nil {
			return d, nil
		}
		f.dirs.Delete(dir) // removed behind our back: create it again
	}
	if err := f.root.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	d, err := f.root.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	if _, known := f.dirs.LoadOrStore(dir, struct{}{}); !known && f.dirsCount.Add(1) > maxKnownDirs {
		f.dirs.Clear()
		f.dirsCount.Store(0)
	}
	return d, nil
}

// writeAtomic writes exactly size bytes to a temporary file beside name and
// renames it into place.
func (f *FS) writeAtomic(name string, body io.Reader, size int64) error {
	dir, base := path.Split(name)
	d, err := f.openDir(path.Clean(dir))
	if err != nil {
		if errors.Is(err, syscall.ENOTDIR) || errors.Is(err, fs.ErrExist) {
			return errs.Wrap(err, errs.Conflict, "blob key is the prefix of another blob's key")
		}
		return f.ioError(err, "blob could not be stored")
	}
	defer d.Close()
	var rnd [12]byte
	rand.Read(rnd[:])
	// Key segments never start with '.', so temporary names cannot collide
	// with a key.
	tmpName := ".tmp-" + hex.EncodeToString(rnd[:])
	tmp, err := d.OpenFile(tmpName, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return f.ioError(err, "blob could not be stored")
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			d.Remove(tmpName)
		}
	}()
	er := &exactReader{r: body, left: size}
	if _, err := io.Copy(tmp, er); err != nil {
		if er.mismatch() {
			return sizeMismatch()
		}
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return errs.Wrap(err, errs.Unavailable, "blob write cancelled")
		}
		return f.ioError(err, "blob could not be stored")
	}
	if !f.noSync {
		if err := tmp.Sync(); err != nil {
			return f.ioError(err, "blob could not be stored")
		}
	}
	if err := tmp.Close(); err != nil {
		return f.ioError(err, "blob could not be stored")
	}
	done = true
	if err := d.Rename(tmpName, base); err != nil {
		d.Remove(tmpName)
		if errors.Is(err, syscall.EISDIR) || errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, fs.ErrExist) {
			return errs.Wrap(err, errs.Conflict, "blob key is the prefix of another blob's key")
		}
		return f.ioError(err, "blob could not be stored")
	}
	if f.noSync {
		return nil
	}
	if df, err := d.Open("."); err == nil {
		df.Sync()
		df.Close()
	}
	return nil
}

// Get implements Store.
func (f *FS) Get(_ context.Context, key string) (io.ReadCloser, error) {
	if err := ValidateKey(key); err != nil {
		return nil, err
	}
	file, err := f.root.Open(path.Join(dataDir, key))
	if err != nil {
		return nil, f.ioError(err, "blob could not be read")
	}
	if st, err := file.Stat(); err != nil || !st.Mode().IsRegular() {
		file.Close()
		return nil, errs.E(errs.NotFound, "blob not found")
	}
	return file, nil
}

// Delete implements Store.
func (f *FS) Delete(_ context.Context, key string) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	for _, name := range []string{path.Join(dataDir, key), path.Join(metaDir, key)} {
		if st, err := f.root.Lstat(name); err == nil && st.IsDir() {
			continue // a prefix of other keys, not a blob
		}
		if err := f.root.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
			return f.ioError(err, "blob could not be deleted")
		}
	}
	return nil
}

// List implements Store: the blobs in the prefix's folder whose name
// starts with the rest of it, and every blob below a folder that does.
func (f *FS) List(_ context.Context, prefix string) ([]string, error) {
	if err := checkPrefix(prefix); err != nil {
		return nil, err
	}
	dir, name := path.Split(prefix)
	var keys []string
	var walk func(dir, name string) error
	walk = func(dir, name string) error {
		entries, err := fs.ReadDir(f.root.FS(), path.Join(dataDir, dir))
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, e := range entries {
			n := e.Name()
			if !strings.HasPrefix(n, name) || strings.HasPrefix(n, ".") { // '.': a write in progress
				continue
			}
			if e.IsDir() {
				if err := walk(dir+n+"/", ""); err != nil {
					return err
				}
				continue
			}
			keys = append(keys, dir+n)
		}
		return nil
	}
	if err := walk(dir, name); err != nil {
		return nil, f.ioError(err, "blobs could not be listed")
	}
	slices.Sort(keys)
	return keys, nil
}

// Exists implements Store.
func (f *FS) Exists(_ context.Context, key string) (bool, error) {
	if err := ValidateKey(key); err != nil {
		return false, err
	}
	st, err := f.root.Stat(path.Join(dataDir, key))
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return false, nil
	}
	if err != nil {
		return false, f.ioError(err, "blob could not be checked")
	}
	return st.Mode().IsRegular(), nil
}

// SignedURL implements Store: BaseURL/blobs/<key>?exp=<unix seconds>&sig=<HMAC>,
// served by Handler. It does not check that the blob exists.
func (f *FS) SignedURL(_ context.Context, key string, ttl time.Duration) (string, error) {
	if err := ValidateKey(key); err != nil {
		return "", err
	}
	if err := checkTTL(ttl); err != nil {
		return "", err
	}
	exp := strconv.FormatInt(f.now().Add(ttl).Unix(), 10)
	return f.baseURL + MountPath + key + "?exp=" + exp + "&sig=" + f.sign(key, exp), nil
}

func (f *FS) sign(key, exp string) string {
	m := hmac.New(sha256.New, f.key)
	m.Write([]byte("borderproof/blob/v1\nGET\n" + key + "\n" + exp))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Handler serves signed URLs: GET or HEAD of /blobs/<key>?exp=…&sig=….
// Mount it at MountPath without stripping the prefix:
//
//	mux.Handle(blob.MountPath, fsStore.Handler())
//
// A missing, altered or expired signature answers 403; a blob that is not
// there answers 404. Bodies are served as attachments, never cached, with
// range requests supported.
func (f *FS) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		key, ok := strings.CutPrefix(r.URL.Path, MountPath)
		if !ok || ValidateKey(key) != nil {
			http.NotFound(w, r)
			return
		}
		q := r.URL.Query()
		exp, sig := q.Get("exp"), q.Get("sig")
		expUnix, err := strconv.ParseInt(exp, 10, 64)
		if err != nil || !hmac.Equal([]byte(sig), []byte(f.sign(key, exp))) {
			http.Error(w, "invalid signature", http.StatusForbidden)
			return
		}
		if f.now().Unix() > expUnix {
			http.Error(w, "link expired", http.StatusForbidden)
			return
		}
		file, err := f.Get(r.Context(), key)
		if err != nil {
			if !errs.Is(err, errs.NotFound) {
				f.log.ErrorContext(r.Context(), "blob: serving signed URL failed", "key", key, "err", err)
				http.Error(w, "internal error", http.StatusInternalServerError)
				return
			}
			http.NotFound(w, r)
			return
		}
		defer file.Close()
		osFile := file.(*os.File)
		st, err := osFile.Stat()
		if err != nil {
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		ct := impliedContentType(key)
		if b, err := f.root.ReadFile(path.Join(metaDir, key)); err == nil {
			ct = string(b)
		}
		h := w.Header()
		h.Set("Content-Type", ct)
		h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": path.Base(key)}))
		h.Set("Cache-Control", "private, no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		http.ServeContent(w, r, "", st.ModTime(), osFile)
	})
}

// ioError classifies a file-system failure; paths stay in the cause.
func (f *FS) ioError(err error, msg string) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return errs.Wrap(err, errs.NotFound, "blob not found")
	}
	return errs.Wrap(err, errs.Internal, msg)
}

// ctxReader stops reading once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
