package partnersim

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"sync"
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encoding failed", http.StatusInternalServerError)
		return
	}
	writeRaw(w, status, b)
}

func writeRaw(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// readBody reads a request body of at most 1 MiB.
func readBody(r *http.Request) ([]byte, error) {
	return io.ReadAll(io.LimitReader(r.Body, 1<<20))
}

func randomID(prefix string) string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// replayStore remembers answers by idempotency key, with a digest of the
// request so that a key reused for a different request is caught.
type replayStore struct {
	mu sync.Mutex
	m  map[string]replay
}

type replay struct {
	digest [32]byte
	status int
	body   []byte
}

func newReplayStore() *replayStore { return &replayStore{m: map[string]replay{}} }

// lookup returns the stored answer for key. conflict is true when the key
// was used with a different request.
func (s *replayStore) lookup(key string, req []byte) (rep replay, found, conflict bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rep, found = s.m[key]
	if found && rep.digest != sha256.Sum256(req) {
		return replay{}, true, true
	}
	return rep, found, false
}

func (s *replayStore) store(key string, req []byte, status int, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[key] = replay{digest: sha256.Sum256(req), status: status, body: body}
}
