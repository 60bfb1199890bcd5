package evidence

import (
	"archive/tar"
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/borderproof/borderproof/internal/errs"
)

// checksDir is the folder of the sealed answers inside a bundle.
const checksDir = "checks/"

// EntryName is the name, inside a bundle, of a check's sealed answer; the
// manifest names the answer by it.
func EntryName(checkID string) string { return checksDir + checkID + ".bin" }

// entry is one file of a bundle.
type entry struct {
	name string
	body []byte
}

// writeBundle makes the archive Build stores: the manifest, its signature,
// then each answer (in manifest order), as regular files with the
// manifest's signing time and no owner, so the same manifest always gives
// the same bytes.
func writeBundle(m Manifest, body, sig []byte, answers []entry) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	files := append([]entry{{ManifestName, body}, {SignatureName, sig}}, answers...)
	for _, f := range files {
		hdr := &tar.Header{
			Typeflag: tar.TypeReg, Name: f.name, Size: int64(len(f.body)), Mode: 0o644,
			ModTime: m.SignedAt, Format: tar.FormatUSTAR,
		}
		err := tw.WriteHeader(hdr)
		if err != nil {
			// A header USTAR cannot hold (a check id longer than 96
			// characters, a signing time outside its range) is written
			// in PAX, which is as deterministic. Nothing was written yet.
			hdr.Format = tar.FormatPAX
			err = tw.WriteHeader(hdr)
		}
		if err == nil {
			_, err = tw.Write(f.body)
		}
		if err != nil {
			return nil, errs.Wrap(err, errs.Internal, "evidence bundle cannot be written")
		}
	}
	if err := tw.Close(); err != nil {
		return nil, errs.Wrap(err, errs.Internal, "evidence bundle cannot be written")
	}
	if buf.Len() > MaxItemSize {
		return nil, errs.E(errs.FailedPrecondition, "evidence bundle is too large")
	}
	return buf.Bytes(), nil
}

// VerifyBundle checks a bundle (the archive Build stores): that it holds
// only regular files named manifest.json, manifest.sig and checks/<id>.bin,
// each once and within MaxItemSize (the whole bundle too); the Ed25519
// signature over manifest.json's exact bytes under publicKey; the manifest
// (format, signing key, each item named by its check's EntryName); the size
// and SHA-256 digest of every answer it lists; and that the bundle holds no
// answer it does not list. It returns the manifest, Digest set, only when
// all hold; otherwise an error classified FailedPrecondition that matches
// ErrSignature, ErrTampered or ErrMissing (one ItemError per bad entry or
// item, joined).
func VerifyBundle(bundle []byte, publicKey ed25519.PublicKey) (Manifest, error) {
	if len(publicKey) != ed25519.PublicKeySize {
		return Manifest{}, errs.E(errs.Invalid, "evidence public key must be 32 bytes")
	}
	if len(bundle) > MaxItemSize {
		return Manifest{}, errs.Wrap(ErrTampered, errs.FailedPrecondition, "evidence bundle is too large")
	}
	entries, err := readEntries(bundle)
	if err != nil {
		return Manifest{}, err
	}
	var missing []error
	for _, name := range []string{ManifestName, SignatureName} {
		if _, ok := entries[name]; !ok {
			missing = append(missing, &ItemError{Key: name, Err: ErrMissing})
		}
	}
	if len(missing) > 0 {
		return Manifest{}, errs.Wrap(errors.Join(missing...), errs.FailedPrecondition, "evidence bundle lacks its manifest or signature")
	}
	m, err := parseSigned(entries[ManifestName], entries[SignatureName], publicKey, Format)
	if err != nil {
		return Manifest{}, err
	}
	var problems []error
	listed := map[string]bool{}
	for _, it := range m.Items() {
		listed[it.Key] = true
		b, ok := entries[it.Key]
		switch {
		case !ok:
			problems = append(problems, &ItemError{Key: it.Key, Err: ErrMissing})
		case int64(len(b)) != it.Size || digest(b) != it.SHA256:
			problems = append(problems, &ItemError{Key: it.Key, Err: ErrTampered})
		}
	}
	names := make([]string, 0, len(entries))
	for name := range entries {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if strings.HasPrefix(name, checksDir) && !listed[name] {
			problems = append(problems, &ItemError{Key: name, Err: fmt.Errorf("%w (not in the manifest)", ErrTampered)})
		}
	}
	if len(problems) > 0 {
		return Manifest{}, errs.Wrap(errors.Join(problems...), errs.FailedPrecondition, "evidence does not match its manifest")
	}
	return m, nil
}

// readEntries reads the files of a bundle by name, refusing anything Build
// does not write: entries other than regular files, unexpected or repeated
// names, an entry larger than MaxItemSize, a malformed archive and data
// after its end.
func readEntries(bundle []byte) (map[string][]byte, error) {
	r := bytes.NewReader(bundle)
	tr := tar.NewReader(r)
	entries := map[string][]byte{}
	var problems []error
	bad := func(name, why string) {
		problems = append(problems, &ItemError{Key: name, Err: fmt.Errorf("%w (%s)", ErrTampered, why)})
	}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			if rest := bundle[len(bundle)-r.Len():]; slices.ContainsFunc(rest, func(c byte) bool { return c != 0 }) {
				bad("bundle", "data after the end of the archive")
			}
			break
		}
		if err != nil {
			bad("bundle", "malformed archive")
			break
		}
		name := hdr.Name
		if _, dup := entries[name]; dup {
			bad(name, "entry repeated")
			continue
		}
		switch {
		case hdr.Typeflag != tar.TypeReg:
			bad(name, "not a regular file")
			continue
		case !validEntryName(name):
			bad(name, "unexpected entry")
			continue
		case hdr.Size < 0 || hdr.Size > MaxItemSize:
			bad(name, "entry too large")
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil || int64(len(b)) != hdr.Size {
			bad(name, "truncated entry")
			break
		}
		entries[name] = b
	}
	if len(problems) > 0 {
		return nil, errs.Wrap(errors.Join(problems...), errs.FailedPrecondition, "evidence bundle is malformed")
	}
	return entries, nil
}

// validEntryName accepts the names Build writes.
func validEntryName(name string) bool {
	if name == ManifestName || name == SignatureName {
		return true
	}
	id, ok := strings.CutPrefix(name, checksDir)
	if !ok {
		return false
	}
	id, ok = strings.CutSuffix(id, ".bin")
	return ok && validID(id)
}
