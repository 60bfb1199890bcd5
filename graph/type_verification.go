package graph

import (
	"time"

	"github.com/graphql-go/graphql"

	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/risk"
	"github.com/borderproof/borderproof/internal/tenant"
	"github.com/borderproof/borderproof/internal/verification"
)

func enum(b *builder, name, desc string, values []string) *graphql.Enum {
	if t, ok := b.types[name]; ok {
		return t.(*graphql.Enum)
	}
	m := graphql.EnumValueConfigMap{}
	for _, v := range values {
		m[v] = &graphql.EnumValueConfig{Value: v}
	}
	e := graphql.NewEnum(graphql.EnumConfig{Name: name, Description: desc, Values: m})
	b.types[name] = e
	return e
}

func statusStrings() []string {
	out := make([]string, len(verification.Statuses))
	for i, s := range verification.Statuses {
		out[i] = string(s)
	}
	return out
}

func checkTypeStrings() []string {
	var out []string
	for _, t := range risk.CheckTypes() {
		out = append(out, string(t))
	}
	return out
}

func nonNull(t graphql.Type) *graphql.NonNull { return graphql.NewNonNull(t) }
func listOf(t graphql.Type) *graphql.NonNull {
	return graphql.NewNonNull(graphql.NewList(graphql.NewNonNull(t)))
}

// verificationType is Verification and the types under it.
func (b *builder) verificationType() *graphql.Object {
	if t, ok := b.types["Verification"]; ok {
		return t.(*graphql.Object)
	}
	dt := b.dateTime()
	reason := graphql.NewObject(graphql.ObjectConfig{
		Name:        "Reason",
		Description: "One reason behind a score, in order of contribution.",
		Fields: graphql.Fields{
			"code":       {Type: nonNull(graphql.String), Description: "Stable reason code."},
			"message":    {Type: nonNull(graphql.String)},
			"points":     {Type: nonNull(graphql.Int)},
			"checkId":    {Type: graphql.ID},
			"checkType":  {Type: b.checkTypeEnum()},
			"resolution": {Type: graphql.String, Description: "What would change this reason, where something would."},
		},
	})
	outcome := graphql.NewObject(graphql.ObjectConfig{
		Name:        "Outcome",
		Description: "The risk decision. Provisional while any check still awaits a partner.",
		Fields: graphql.Fields{
			"score":         {Type: nonNull(graphql.Int), Description: "0 (no risk found) to 100."},
			"band":          {Type: nonNull(enum(b, "Band", "Risk band of a score.", []string{"LOW", "MEDIUM", "HIGH", "CRITICAL"}))},
			"decision":      {Type: nonNull(b.decisionEnum())},
			"provisional":   {Type: nonNull(graphql.Boolean)},
			"policyVersion": {Type: nonNull(graphql.Int), Description: "The risk policy version that produced this outcome."},
			"hardRule":      {Type: graphql.String, Description: "The hard rule that forced the decision, if one did."},
			"reasons":       {Type: listOf(reason)},
		},
	})
	check := graphql.NewObject(graphql.ObjectConfig{
		Name: "Check",
		Fields: graphql.Fields{
			"id":               {Type: nonNull(graphql.ID)},
			"type":             {Type: nonNull(b.checkTypeEnum())},
			"status":           {Type: nonNull(enum(b, "CheckStatus", "Where a check stands.", []string{"PENDING", "AWAITING_PARTNER", "COMPLETED", "FAILED", "SKIPPED"}))},
			"partner":          {Type: graphql.String},
			"outcome":          {Type: graphql.String, Description: "CLEAR, CONSIDER, ALERT or UNAVAILABLE once the partner answered."},
			"reasons":          {Type: listOf(graphql.String), Description: "Signal codes the check produced."},
			"reason":           {Type: graphql.String, Description: "Why a check was skipped or failed (DATA_SHARING_NOT_PERMITTED, PARTNER_TIMEOUT, CANCELLED…)."},
			"partnerReference": {Type: graphql.String},
			"attempts":         {Type: nonNull(graphql.Int)},
			"createdAt":        {Type: nonNull(dt)},
			"updatedAt":        {Type: nonNull(dt)},
			"completedAt":      {Type: dt},
		},
	})
	consent := graphql.NewObject(graphql.ObjectConfig{
		Name: "Consent",
		Fields: graphql.Fields{
			"reference":   {Type: nonNull(graphql.String)},
			"obtainedAt":  {Type: nonNull(dt)},
			"lawfulBasis": {Type: nonNull(b.lawfulBasisEnum())},
			"purposes":    {Type: listOf(b.purposeEnum())},
		},
	})
	review := graphql.NewObject(graphql.ObjectConfig{
		Name: "Review",
		Fields: graphql.Fields{
			"decision":   {Type: nonNull(graphql.String)},
			"reviewedBy": {Type: nonNull(graphql.String)},
			"reviewedAt": {Type: nonNull(dt)},
			"note":       {Type: graphql.String},
		},
	})
	document := graphql.NewObject(graphql.ObjectConfig{
		Name: "Document",
		Fields: graphql.Fields{
			"type":           {Type: nonNull(b.documentTypeEnum())},
			"number":         {Type: nonNull(graphql.String)},
			"issuingCountry": {Type: nonNull(graphql.String)},
			"expiryDate":     {Type: nonNull(b.date())},
			"mrz":            {Type: listOf(graphql.String)},
		},
	})
	holder := graphql.NewObject(graphql.ObjectConfig{
		Name:        "Policyholder",
		Description: "Personal data. Reading it needs the pii:read scope and writes an audit entry.",
		Fields: graphql.Fields{
			"givenNames":       {Type: nonNull(graphql.String)},
			"surname":          {Type: nonNull(graphql.String)},
			"dateOfBirth":      {Type: nonNull(b.date())},
			"nationality":      {Type: nonNull(graphql.String)},
			"sex":              {Type: nonNull(b.sexEnum())},
			"residenceCountry": {Type: nonNull(graphql.String)},
			"documents":        {Type: listOf(document)},
			"policyReference":  {Type: graphql.String},
		},
	})
	v := graphql.NewObject(graphql.ObjectConfig{
		Name:        "Verification",
		Description: "A verification of one policyholder and its checks.",
		Fields: graphql.FieldsThunk(func() graphql.Fields {
			return graphql.Fields{
				"id":                {Type: nonNull(graphql.ID)},
				"status":            {Type: nonNull(b.statusEnum())},
				"mode":              {Type: nonNull(b.modeEnum())},
				"externalReference": {Type: graphql.String},
				"product":           {Type: b.productEnum()},
				"coverageCountry":   {Type: graphql.String},
				"createdAt":         {Type: nonNull(dt)},
				"updatedAt":         {Type: nonNull(dt)},
				"completedAt":       {Type: dt},
				"cancelledAt":       {Type: dt},
				"deadlineAt":        {Type: nonNull(dt), Description: "Checks still unanswered then end FAILED with PARTNER_TIMEOUT."},
				"erasedAt":          {Type: dt, Description: "Set once the personal data was crypto-shredded."},
				"checks":            {Type: listOf(check)},
				"outcome":           {Type: outcome},
				"review":            {Type: review},
				"consent":           {Type: nonNull(consent)},
				"metadata":          {Type: graphql.String, Description: "The insurer's metadata as a JSON object string."},
				"evidence": {
					Type:        b.evidenceType(),
					Description: "The signed evidence bundle once the outcome is final: a short-lived link, the manifest digest and when it was signed.",
					Resolve:     b.resolveEvidence,
				},
				"policyholder": {
					Type:        holder,
					Description: "Needs pii:read; every read is audited (send X-Purpose to record why). Null after erasure.",
					Resolve:     b.resolvePolicyholder,
				},
			}
		}),
	})
	b.types["Verification"] = v
	return v
}

func (b *builder) statusEnum() *graphql.Enum {
	return enum(b, "VerificationStatus", "Where a verification stands.", statusStrings())
}
func (b *builder) decisionEnum() *graphql.Enum {
	return enum(b, "Decision", "Recommended action.", []string{"CLEAR", "REVIEW", "DECLINE"})
}
func (b *builder) checkTypeEnum() *graphql.Enum {
	return enum(b, "CheckType", "A kind of check.", checkTypeStrings())
}
func (b *builder) lawfulBasisEnum() *graphql.Enum {
	return enum(b, "LawfulBasis", "The lawful basis for processing (GDPR Art. 6).", verification.LawfulBases)
}
func (b *builder) purposeEnum() *graphql.Enum {
	return enum(b, "Purpose", "Why the insurer processes the data.", verification.Purposes)
}
func (b *builder) documentTypeEnum() *graphql.Enum {
	return enum(b, "DocumentType", "", verification.DocumentTypes)
}
func (b *builder) sexEnum() *graphql.Enum {
	return enum(b, "Sex", "As in the machine-readable zone: F, M or X (unspecified).", verification.Sexes)
}
func (b *builder) productEnum() *graphql.Enum {
	var ps []string
	for _, p := range risk.Products() {
		ps = append(ps, string(p))
	}
	return enum(b, "Product", "Insurance product.", ps)
}

// verificationValue maps a verification for the default resolvers.
func verificationValue(v verification.Verification) map[string]any {
	checks := make([]map[string]any, len(v.Checks))
	for i, c := range v.Checks {
		codes := make([]string, len(c.Signals))
		for j, s := range c.Signals {
			codes[j] = string(s.Code)
		}
		checks[i] = map[string]any{
			"id": c.ID, "type": string(c.Type), "status": string(c.Status), "partner": nilIfEmpty(c.Partner),
			"outcome": nilIfEmpty(c.Outcome), "reasons": codes, "reason": nilIfEmpty(c.Reason),
			"partnerReference": nilIfEmpty(c.PartnerReference), "attempts": c.Attempts,
			"createdAt": c.CreatedAt, "updatedAt": c.UpdatedAt, "completedAt": c.CompletedAt,
		}
	}
	m := map[string]any{
		"id": v.ID, "status": string(v.Status), "mode": v.Mode, "externalReference": nilIfEmpty(v.ExternalReference),
		"product": nilIfEmpty(v.Product), "coverageCountry": nilIfEmpty(v.CoverageCountry),
		"createdAt": v.CreatedAt, "updatedAt": v.UpdatedAt, "completedAt": v.CompletedAt, "cancelledAt": v.CancelledAt,
		"deadlineAt": v.DeadlineAt, "erasedAt": v.ErasedAt, "checks": checks,
		"consent": map[string]any{"reference": v.Consent.Reference, "obtainedAt": v.Consent.ObtainedAt,
			"lawfulBasis": v.Consent.LawfulBasis, "purposes": v.Consent.Purposes},
		"metadata": nil, "outcome": nil, "review": nil,
	}
	if len(v.Metadata) > 0 {
		m["metadata"] = string(v.Metadata)
	}
	if o := v.Outcome; o != nil {
		reasons := make([]map[string]any, len(o.Reasons))
		for i, r := range o.Reasons {
			reasons[i] = map[string]any{"code": r.Code, "message": r.Message, "points": r.Points,
				"checkId": nilIfEmpty(r.CheckID), "checkType": nilIfEmpty(string(r.CheckType)), "resolution": nilIfEmpty(r.Resolution)}
		}
		m["outcome"] = map[string]any{"score": o.Score, "band": string(o.Band), "decision": string(o.Decision),
			"provisional": o.Provisional, "policyVersion": o.PolicyVersion, "hardRule": nilIfEmpty(o.HardRule), "reasons": reasons}
	}
	if r := v.Review; r != nil {
		m["review"] = map[string]any{"decision": r.Decision, "reviewedBy": r.ReviewedBy, "reviewedAt": r.ReviewedAt, "note": nilIfEmpty(r.Note)}
	}
	return m
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (b *builder) resolvePolicyholder(p graphql.ResolveParams) (any, error) {
	src := p.Source.(map[string]any)
	vid := src["id"].(string)
	if b.d.Verifications == nil {
		return nil, b.unavailable(p)
	}
	meta := MetaFrom(p.Context)
	pii, err := loadPII(p.Context, vid, func() (*verification.PII, error) {
		return b.d.Verifications.Policyholder(p.Context, vid, meta.Purpose, requestID(p.Context))
	})
	if err != nil {
		return nil, b.fail(p.Context, err)
	}
	if pii == nil {
		return nil, nil
	}
	docs := make([]map[string]any, len(pii.Documents))
	for i, d := range pii.Documents {
		mrzLines := d.MRZ
		if mrzLines == nil {
			mrzLines = []string{}
		}
		docs[i] = map[string]any{"type": d.Type, "number": d.Number, "issuingCountry": d.IssuingCountry, "expiryDate": d.ExpiryDate, "mrz": mrzLines}
	}
	ph := pii.Policyholder
	return map[string]any{"givenNames": ph.GivenNames, "surname": ph.Surname, "dateOfBirth": ph.DateOfBirth,
		"nationality": ph.Nationality, "sex": ph.Sex, "residenceCountry": ph.ResidenceCountry, "documents": docs,
		"policyReference": nilIfEmpty(pii.PolicyReference)}, nil
}

func (b *builder) evidenceType() *graphql.Object {
	if t, ok := b.types["Evidence"]; ok {
		return t.(*graphql.Object)
	}
	o := graphql.NewObject(graphql.ObjectConfig{
		Name:        "Evidence",
		Description: "One tar object: manifest.json (SHA-256 digests of every sealed partner answer, the policy and list versions, the reason codes), manifest.sig (its Ed25519 signature by the service) and the sealed answers under checks/.",
		Fields: graphql.Fields{
			"url":      {Type: nonNull(graphql.String), Description: "Download link for the bundle (.tar), valid for 15 minutes; bundles signed before it was one object link to their manifest.json."},
			"digest":   {Type: nonNull(graphql.String), Description: "SHA-256 (hex) of manifest.json."},
			"signedAt": {Type: nonNull(b.dateTime())},
			"keyId":    {Type: nonNull(graphql.String), Description: "The signing key, as GET /evidence/public-key.pem names it in X-Evidence-Key-Id (\"ed25519:\" and 16 hex digits of the key's SHA-256)."},
		},
	})
	b.types["Evidence"] = o
	return o
}

func (b *builder) resolveEvidence(p graphql.ResolveParams) (any, error) {
	if b.d.Evidence == nil {
		return nil, nil
	}
	pr, err := tenant.Authorize(p.Context, tenant.ScopeVerificationsRead)
	if err != nil {
		return nil, b.fail(p.Context, err)
	}
	vid := p.Source.(map[string]any)["id"].(string)
	m, url, err := b.d.Evidence.Link(p.Context, pr.Insurer.ID, vid, 15*time.Minute)
	if errs.Is(err, errs.NotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, b.fail(p.Context, err)
	}
	return map[string]any{"url": url, "digest": m.Digest, "signedAt": m.SignedAt, "keyId": m.KeyID}, nil
}
