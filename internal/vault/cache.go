package vault

import (
	"crypto/cipher"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
)

// keyEntry is an unwrapped key ready for use. Callers hold a reference
// (acquire/release) while they use it; when the cache evicts an entry its
// secret is zeroed once the last reference is released.
type keyEntry struct {
	aead cipher.AEAD
	// secret is the HKDF pseudorandom key of an insurer key (nil for
	// subject keys, whose raw bytes are zeroed once the cipher is built).
	secret []byte
	// digest identifies the wrapped form a subject key was unwrapped from.
	digest [32]byte

	mu   sync.Mutex
	refs int
	dead bool
}

// acquire takes a reference; it fails on an entry that is already retired.
func (e *keyEntry) acquire() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.dead {
		return false
	}
	e.refs++
	return true
}

// release drops a reference and destroys a retired entry nobody uses.
func (e *keyEntry) release() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.refs--
	if e.dead && e.refs == 0 {
		e.destroy()
	}
}

// retire marks the entry evicted and destroys it unless it is in use.
func (e *keyEntry) retire() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.dead = true
	if e.refs == 0 {
		e.destroy()
	}
}

func (e *keyEntry) destroy() {
	zero(e.secret)
	e.secret = nil
	e.aead = nil
}

// uncached returns e held once and already retired, so that its single
// release destroys it. Used when the cache is bypassed.
func uncached(e *keyEntry) *keyEntry {
	e.refs = 1
	e.dead = true
	return e
}

// keyCache is a size-bounded LRU of key entries with a time to live. The
// underlying LRU replaces a value in place without an eviction callback, so
// puts go through remove-then-add under a lock to retire the old value.
type keyCache struct {
	mu  sync.Mutex
	lru *expirable.LRU[string, *keyEntry]
}

func newKeyCache(size int, ttl time.Duration) *keyCache {
	if size <= 0 {
		return nil
	}
	return &keyCache{lru: expirable.NewLRU(size, func(_ string, e *keyEntry) { e.retire() }, ttl)}
}

// get returns the live entry under k, acquired, when ok(entry) holds.
func (c *keyCache) get(k string, ok func(*keyEntry) bool) (*keyEntry, bool) {
	if c == nil {
		return nil, false
	}
	e, found := c.lru.Get(k)
	if !found {
		return nil, false
	}
	if ok != nil && !ok(e) {
		return nil, false
	}
	if !e.acquire() {
		return nil, false
	}
	return e, true
}

func (c *keyCache) put(k string, e *keyEntry) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lru.Remove(k)
	c.lru.Add(k, e)
}

func (c *keyCache) remove(k string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lru.Remove(k)
}

func (c *keyCache) purge() {
	if c == nil {
		return
	}
	c.lru.Purge()
}

func (c *keyCache) len() int {
	if c == nil {
		return 0
	}
	return c.lru.Len()
}
