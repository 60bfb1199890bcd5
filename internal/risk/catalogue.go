package risk

// The reason catalogue: for every signal code, the plain-English message a
// reason carries, what would change it, and the weight DefaultPolicy gives
// it. Messages are fixed text: they never include a signal's Detail, so no
// personal data can reach a reason.

type entry struct {
	message string
	// resolution is what would change the reason. For process codes it is
	// empty and built from the check type by processResolution.
	resolution string
	weight     int
	// perCheck marks codes about the process rather than the subject: they
	// count once per check instead of once per verification.
	perCheck bool
}

// catalogue returns the entry for c and whether c is known.
func catalogue(c SignalCode) (entry, bool) {
	switch c {
	case SignalMRZCheckDigitFailed:
		return entry{
			message:    "A check digit in the document's machine-readable zone does not match its data.",
			resolution: "A clear re-capture of the machine-readable zone, or a different valid document, would resolve this.",
			weight:     25,
		}, true
	case SignalMRZFieldMismatch:
		return entry{
			message:    "The document's machine-readable zone does not match the document details submitted.",
			resolution: "Corrected document details or a clear re-capture of the machine-readable zone would resolve this.",
			weight:     30,
		}, true
	case SignalDocumentExpired:
		return entry{
			message:    "The travel document has expired.",
			resolution: "A current travel document would resolve this.",
			weight:     20,
		}, true
	case SignalSpecimenDocument:
		return entry{
			message:    "The document is a published specimen, not an issued document.",
			resolution: "A genuine issued travel document would resolve this.",
			weight:     80,
		}, true
	case SignalDocumentReuse:
		return entry{
			message:    "The same document was already submitted for a different policyholder.",
			resolution: "An underwriter's confirmation of identity, or the policyholder's own document, would resolve this.",
			weight:     35,
		}, true
	case SignalDocumentStolen:
		return entry{
			message:    "The lost and stolen document registry lists the document as stolen.",
			resolution: "Only a different valid document, or the issuing authority's correction of the registry, would change this.",
			weight:     90,
		}, true
	case SignalDocumentLost:
		return entry{
			message:    "The lost and stolen document registry lists the document as lost.",
			resolution: "A replacement document, or the issuing authority's confirmation that the document was recovered, would resolve this.",
			weight:     50,
		}, true
	case SignalDocumentRevoked:
		return entry{
			message:    "The issuing authority has revoked the document.",
			resolution: "A valid replacement document would resolve this.",
			weight:     50,
		}, true
	case SignalDocumentInvalidated:
		return entry{
			message:    "The document registry lists the document as invalidated.",
			resolution: "A valid replacement document would resolve this.",
			weight:     40,
		}, true
	case SignalIdentityMismatch:
		return entry{
			message:    "The registry's record of the document does not match the identity submitted.",
			resolution: "Corrected identity details, or the document that belongs to this identity, would resolve this.",
			weight:     45,
		}, true
	case SignalNoValidVisa:
		return entry{
			message:    "The immigration authority holds no valid visa or residence permit for the policyholder.",
			resolution: "Evidence of a valid visa or permit, confirmed by the immigration-status partner, would resolve this.",
			weight:     45,
		}, true
	case SignalVisaExpired:
		return entry{
			message:    "The policyholder's visa has expired.",
			resolution: "A confirmed new visa grant or extension would resolve this.",
			weight:     35,
		}, true
	case SignalVisaExpiresBeforePolicy:
		return entry{
			message:    "The visa expires before the end of the insurance period.",
			resolution: "A policy period within the visa's validity, or a confirmed later visa, would resolve this.",
			weight:     15,
		}, true
	case SignalVisaConditionConflict:
		return entry{
			message:    "The visa does not carry a condition this product requires.",
			resolution: "A visa that carries the conditions this product requires would resolve this.",
			weight:     30,
		}, true
	case SignalStatusUnverified:
		return entry{
			message:    "The immigration authority could not confirm the policyholder's status.",
			resolution: "A confirmed status from the immigration-status partner would resolve this.",
			weight:     15,
		}, true
	case SignalOverstay:
		return entry{
			message:    "Border records show a stay beyond its permitted end; points grow with its length.",
			resolution: "Evidence of a visa that covered the stay, or a correction of the border record, would resolve this.",
			weight:     40,
		}, true
	case SignalRefusedEntry:
		return entry{
			message:    "Border records show a refused entry.",
			resolution: "An underwriter's review of the refusal would resolve this.",
			weight:     25,
		}, true
	case SignalNotInCountry:
		return entry{
			message:    "Border records do not place the policyholder in the country of cover.",
			resolution: "A recorded entry into the country of cover would resolve this.",
			weight:     20,
		}, true
	case SignalWatchlistStrong:
		return entry{
			message:    "The policyholder closely matches a watchlist entry; points grow with the similarity.",
			resolution: "An underwriter's review that rules the match out would resolve this.",
			weight:     60,
		}, true
	case SignalWatchlistWeak:
		return entry{
			message:    "The policyholder partly matches a watchlist entry; points grow with the similarity.",
			resolution: "An underwriter's review that rules the match out would resolve this.",
			weight:     15,
		}, true
	case SignalPartnerUnavailable:
		return entry{message: "The partner for this check could not be reached, so the check has no answer.", weight: 10, perCheck: true}, true
	case SignalPartnerTimeout:
		return entry{message: "The partner for this check did not answer in time, so the check has no answer.", weight: 10, perCheck: true}, true
	case SignalDataSharingForbidden:
		return entry{message: "This check was not run: data-sharing rules do not allow sending the details to the partner's jurisdiction.", weight: 10, perCheck: true}, true
	case SignalAwaitingPartner:
		return entry{message: "This check has not been answered yet, so the outcome is provisional.", weight: 0, perCheck: true}, true
	case SignalRequiredCheckNotRun:
		return entry{message: "The product requires this check, but the verification does not include it.", weight: 10, perCheck: true}, true
	}
	return entry{
		message:    "A check reported a finding this version of the scoring engine does not know.",
		resolution: "An underwriter's review of the check would resolve this.",
	}, false
}

// processResolution says what would resolve a process reason for a check
// of type t.
func processResolution(c SignalCode, t CheckType) string {
	who := "the partner"
	switch t {
	case CheckDocumentMRZ:
		who = "the machine-readable-zone check"
	case CheckDocumentRegistry:
		who = "the document-registry partner"
	case CheckImmigrationStatus:
		who = "the immigration-status partner"
	case CheckBorderMovements:
		who = "the border-movements partner"
	case CheckWatchlist:
		who = "the watchlist screening"
	}
	switch c {
	case SignalDataSharingForbidden:
		return "Consent or an agreement that allows sharing with " + who + ", or a manual check by an underwriter, would resolve this."
	case SignalRequiredCheckNotRun:
		return "An answer from " + who + " in a new verification would resolve this."
	}
	return "An answer from " + who + " would resolve this."
}
