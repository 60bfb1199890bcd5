// Package mrz parses, validates, compares and writes the machine-readable
// zones of ICAO Doc 9303 travel documents: TD1 (3 lines of 30 characters,
// identity cards), TD2 (2×36), TD3 (2×44, passports), and the machine-readable
// visas MRV-A (2×44) and MRV-B (2×36) of Part 7.
//
// # Two kinds of wrong
//
// Input that is not a machine-readable zone at all (wrong number of lines,
// wrong line length, a character outside A–Z 0–9 '<') makes Parse return an
// error of kind errs.Invalid. Its message names the line and the position,
// never the content, so it is safe to show to a client.
//
// A zone that has the right shape but suspicious content (a failed check
// digit, an unknown state code, an impossible date, a malformed name) parses:
// Parse returns the Document with its Problems and no error, so the pipeline
// can turn the problems into fraud signals. Document.Valid reports whether
// there is any problem other than a notice.
//
// # Policy
//
// The decisions below are also in POLICY.md, with the test cases where they
// differ from the verdicts of other parsers.
//
//   - UTO (Utopia, the ICAO specimen state, absent from internal/country) is
//     accepted as a state code. Parse adds a SPECIMEN_STATE problem for the
//     issuing state and for the nationality; it is a notice (Valid stays
//     true) that the risk engine turns into a SPECIMEN_DOCUMENT signal.
//   - A document number longer than nine characters (TD1, TD2): the first
//     nine are in the document-number field, its check-digit position holds
//     '<', and the number continues at the start of the optional data,
//     followed by its check digit and a filler. The check digit is verified
//     over the whole number (ICAO 9303-5/6); the variant computed over the
//     nine characters, the '<' and the rest, found on Belgian cards, is
//     accepted too. Document.DocumentNumber holds the whole number and
//     OptionalData only what follows the extension.
//   - An extension that holds only a check digit (or nothing) is rejected
//     with INVALID_DOCUMENT_NUMBER: a number of nine characters must use the
//     ordinary check-digit position.
//   - An empty TD3 personal number may carry '<' or '0' as its check digit;
//     Encode writes '<'.
//   - No OCR autocorrection: an 'O' where a digit belongs is a failed check
//     digit or an invalid date, not a '0'.
//   - Names: the primary and the secondary identifier are separated by the
//     first "<<"; a second "<<", a leading filler, digits or an empty name are
//     INVALID_NAME problems. A name field filled to its last position may be
//     truncated (Document.NameTruncated); Compare then accepts a typed name
//     that starts with the zone's name.
//   - Dates: a birth date is never in the future (otherwise the previous
//     century); an expiry date lies within 50 years of the reference time.
//     The reference time is an option (WithNow) so tests are deterministic.
//     An impossible or partly unknown date ('<' filler) is INVALID_DATE and
//     leaves the time.Time zero. Expired documents are not a problem here:
//     Document.Expired reports it for the risk engine.
package mrz
