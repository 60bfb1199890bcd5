package user

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Argon2 are the argon2id cost parameters. The defaults follow RFC 9106's
// second recommended option scaled to a server that hashes at sign-in only:
// 64 MiB, 2 passes, 2 lanes.
type Argon2 struct {
	MemoryKiB uint32
	Time      uint32
	Threads   uint8
	SaltLen   int
	KeyLen    uint32
}

// DefaultArgon2 is used when the config names none.
var DefaultArgon2 = Argon2{MemoryKiB: 64 * 1024, Time: 2, Threads: 2, SaltLen: 16, KeyLen: 32}

// hashPassword returns the PHC string of password under p:
// $argon2id$v=19$m=65536,t=2,p=2$<salt>$<key>.
func hashPassword(password string, p Argon2) (string, error) {
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, p.KeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.MemoryKiB, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// parsedHash is a decoded PHC string.
type parsedHash struct {
	p         Argon2
	salt, key []byte
}

func parseHash(phc string) (parsedHash, bool) {
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return parsedHash{}, false
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return parsedHash{}, false
	}
	var h parsedHash
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &h.p.MemoryKiB, &h.p.Time, &h.p.Threads); err != nil {
		return parsedHash{}, false
	}
	var err error
	if h.salt, err = base64.RawStdEncoding.DecodeString(parts[4]); err != nil {
		return parsedHash{}, false
	}
	if h.key, err = base64.RawStdEncoding.DecodeString(parts[5]); err != nil || len(h.key) == 0 {
		return parsedHash{}, false
	}
	// Refuse costs no configuration of ours would produce, so a tampered
	// row cannot make sign-in allocate gigabytes.
	if h.p.MemoryKiB == 0 || h.p.MemoryKiB > 1<<20 || h.p.Time == 0 || h.p.Time > 16 || h.p.Threads == 0 || len(h.key) > 64 {
		return parsedHash{}, false
	}
	h.p.SaltLen, h.p.KeyLen = len(h.salt), uint32(len(h.key))
	return h, true
}

// verifyPassword reports whether password matches the PHC string, comparing
// in constant time.
func verifyPassword(phc, password string) bool {
	h, ok := parseHash(phc)
	if !ok {
		return false
	}
	key := argon2.IDKey([]byte(password), h.salt, h.p.Time, h.p.MemoryKiB, h.p.Threads, h.p.KeyLen)
	return subtle.ConstantTimeCompare(key, h.key) == 1
}

// needsRehash reports whether the hash was made with other parameters than p.
func needsRehash(phc string, p Argon2) bool {
	h, ok := parseHash(phc)
	return !ok || h.p.MemoryKiB != p.MemoryKiB || h.p.Time != p.Time || h.p.Threads != p.Threads || h.p.KeyLen != p.KeyLen
}
