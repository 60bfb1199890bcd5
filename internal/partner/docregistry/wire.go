package docregistry

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Wire format of the document registry (lost and stolen travel documents,
// modelled on INTERPOL SLTD reached through a national central bureau).
// The simulator serves the same types.

// Path below the base URL.
const SearchPath = "/sltd/v1/searches"

// Request signing headers.
const (
	HeaderKeyID     = "X-NCB-Key-Id"
	HeaderTimestamp = "X-NCB-Timestamp"
	HeaderSignature = "X-NCB-Signature"
	// MaxSkew is how far the timestamp may be from the registry's clock.
	MaxSkew = 5 * time.Minute
)

// Results.
const (
	ResultNoHit = "NO_HIT"
	ResultHit   = "HIT"
)

// Holder check outcomes.
const (
	HolderMatch      = "MATCH"
	HolderMismatch   = "MISMATCH"
	HolderNotChecked = "NOT_CHECKED"
)

// SearchRequest searches one document. In privacy mode Document.Number is
// empty and NumberHMAC holds partner.BlindDocumentNumber under the shared
// privacy key; HolderDigest is partner.BlindHolder under the same key.
type SearchRequest struct {
	SearchID     string    `json:"searchId"`
	Document     SearchDoc `json:"document"`
	HolderDigest string    `json:"holderDigest,omitempty"`
}

// SearchDoc is the document searched.
type SearchDoc struct {
	Number         string `json:"number,omitempty"`
	NumberHMAC     string `json:"numberHmac,omitempty"`
	IssuingCountry string `json:"issuingCountry"`
	Type           string `json:"type,omitempty"`
}

// SearchResponse is the answer.
type SearchResponse struct {
	SearchID    string    `json:"searchId"`
	SearchedAt  time.Time `json:"searchedAt"`
	Result      string    `json:"result"`
	Hit         *Hit      `json:"hit,omitempty"`
	HolderCheck string    `json:"holderCheck"`
}

// Hit is a registry record of a reported document.
type Hit struct {
	Reason           string `json:"reason"` // LOST, STOLEN, REVOKED, INVALIDATED
	ReportedOn       string `json:"reportedOn"`
	ReportingCountry string `json:"reportingCountry,omitempty"`
}

// Problem is the registry's error body (application/problem+json).
type Problem struct {
	Status    int    `json:"status"`
	ErrorCode string `json:"errorCode"`
	Detail    string `json:"detail"`
}

// Sign returns the request signature: lower-case hex of
// HMAC-SHA256(secret, METHOD "\n" PATH "\n" TIMESTAMP "\n" hex(SHA-256(body))).
func Sign(secret []byte, method, path, timestamp string, body []byte) string {
	sum := sha256.Sum256(body)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(method + "\n" + path + "\n" + timestamp + "\n" + hex.EncodeToString(sum[:])))
	return hex.EncodeToString(m.Sum(nil))
}
