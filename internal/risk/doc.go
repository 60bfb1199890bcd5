// Package risk is BorderProof's explainable scoring engine. It turns the
// signals that checks produce (a stolen document, a visa condition conflict,
// a watchlist match, a partner that did not answer) into a 0–100 score, a
// band, a decision (CLEAR, REVIEW, DECLINE) and reasons ordered by what they
// contributed, under an insurer's versioned Policy.
//
// The package is pure domain code: no I/O, no clock, no logging. Score is
// deterministic; Simulate rescores stored inputs under a draft policy
// without side effects. Partner clients consult the same Policy for the
// visa conditions a product requires (Policy.RequiredVisaConditions) and the
// checks it requires (Policy.RequiredChecks).
//
// README.md in this directory tabulates DefaultPolicy for underwriters; a
// test keeps the two in step.
package risk
