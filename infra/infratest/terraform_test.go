package infratest

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

// tfBlock is a parsed top-level Terraform block.
type tfBlock struct {
	file string
	b    *hclsyntax.Block
}

func (b tfBlock) label(i int) string {
	if i < len(b.b.Labels) {
		return b.b.Labels[i]
	}
	return ""
}

// tfConfig parses every .tf file under infra/terraform.
func tfConfig(t *testing.T) []tfBlock {
	t.Helper()
	parser := hclparse.NewParser()
	var blocks []tfBlock
	files := filesUnder(t, path(t, "infra", "terraform"), ".tf")
	if len(files) == 0 {
		t.Fatal("no .tf files")
	}
	for _, p := range files {
		if filepath.Dir(p) != path(t, "infra", "terraform") {
			continue // one root module
		}
		f, diags := parser.ParseHCLFile(p)
		if diags.HasErrors() {
			t.Fatalf("%s: %s", rel(t, p), diags.Error())
		}
		for _, b := range f.Body.(*hclsyntax.Body).Blocks {
			blocks = append(blocks, tfBlock{file: rel(t, p), b: b})
		}
	}
	return blocks
}

func resourcesOf(blocks []tfBlock, typ string) []tfBlock {
	var out []tfBlock
	for _, b := range blocks {
		if b.b.Type == "resource" && b.label(0) == typ {
			out = append(out, b)
		}
	}
	return out
}

func resource(t *testing.T, blocks []tfBlock, typ, name string) tfBlock {
	t.Helper()
	for _, b := range resourcesOf(blocks, typ) {
		if b.label(1) == name {
			return b
		}
	}
	t.Fatalf("resource %s.%s not found", typ, name)
	return tfBlock{}
}

// literal evaluates an attribute that must be a constant.
func literal(body *hclsyntax.Body, name string) (cty.Value, bool) {
	a, ok := body.Attributes[name]
	if !ok {
		return cty.NilVal, false
	}
	v, diags := a.Expr.Value(nil)
	if diags.HasErrors() {
		return cty.NilVal, false
	}
	return v, true
}

func isTrue(body *hclsyntax.Body, name string) bool {
	v, ok := literal(body, name)
	return ok && v.Type() == cty.Bool && v.True()
}

func isString(body *hclsyntax.Body, name, want string) bool {
	v, ok := literal(body, name)
	return ok && v.Type() == cty.String && v.AsString() == want
}

// refersTo reports whether an attribute's expression mentions the given
// traversal root and attribute (var.x, aws_kms_key.storage, ...).
func refersTo(body *hclsyntax.Body, name, ref string) bool {
	a, ok := body.Attributes[name]
	if !ok {
		return false
	}
	for _, tr := range a.Expr.Variables() {
		var sb strings.Builder
		sb.WriteString(tr.RootName())
		for _, step := range tr[1:] {
			if s, ok := step.(hcl.TraverseAttr); ok {
				sb.WriteString("." + s.Name)
			}
		}
		if strings.HasPrefix(sb.String(), ref) {
			return true
		}
	}
	return false
}

func nested(body *hclsyntax.Body, typ string) []*hclsyntax.Body {
	var out []*hclsyntax.Body
	for _, b := range body.Blocks {
		if b.Type == typ {
			out = append(out, b.Body)
		}
	}
	return out
}

// TestTerraformFormatted: the files are in `terraform fmt` canonical form.
func TestTerraformFormatted(t *testing.T) {
	t.Parallel()
	for _, p := range filesUnder(t, path(t, "infra", "terraform"), ".tf", ".tfvars", ".hcl") {
		src := readFile(t, p)
		if _, diags := hclwrite.ParseConfig(src, p, hcl.InitialPos); diags.HasErrors() {
			t.Errorf("%s: %s", rel(t, p), diags.Error())
			continue
		}
		if !bytes.Equal(hclwrite.Format(src), src) {
			t.Errorf("%s is not formatted (terraform fmt)", rel(t, p))
		}
	}
}

func TestTerraformVersionsPinned(t *testing.T) {
	t.Parallel()
	var providers int
	for _, b := range tfConfig(t) {
		if b.b.Type != "terraform" {
			continue
		}
		if _, ok := literal(b.b.Body, "required_version"); !ok {
			t.Error("terraform block: required_version missing")
		}
		for _, rp := range nested(b.b.Body, "required_providers") {
			for name, a := range rp.Attributes {
				v, diags := a.Expr.Value(nil)
				if diags.HasErrors() || !v.Type().IsObjectType() || !v.Type().HasAttribute("version") {
					t.Errorf("provider %s: no version", name)
					continue
				}
				ver := v.GetAttr("version").AsString()
				if strings.ContainsAny(ver, "~><!=, ") {
					t.Errorf("provider %s: version %q is a range, want an exact version", name, ver)
				}
				providers++
			}
		}
	}
	if providers < 2 {
		t.Errorf("found %d pinned providers, want aws and random", providers)
	}
}

func TestTerraformVariablesAndOutputsDocumented(t *testing.T) {
	t.Parallel()
	for _, b := range tfConfig(t) {
		switch b.b.Type {
		case "variable":
			if _, ok := literal(b.b.Body, "description"); !ok {
				t.Errorf("variable %s: no description", b.label(0))
			}
			if _, ok := b.b.Body.Attributes["type"]; !ok {
				t.Errorf("variable %s: no type", b.label(0))
			}
		case "output":
			if _, ok := literal(b.b.Body, "description"); !ok {
				t.Errorf("output %s: no description", b.label(0))
			}
		}
	}
}

func TestTerraformDatabase(t *testing.T) {
	t.Parallel()
	blocks := tfConfig(t)
	dbs := resourcesOf(blocks, "aws_db_instance")
	if len(dbs) != 1 {
		t.Fatalf("want one aws_db_instance, got %d", len(dbs))
	}
	db := dbs[0].b.Body
	if !isString(db, "engine", "postgres") {
		t.Error("engine must be postgres")
	}
	for _, a := range []string{"multi_az", "storage_encrypted"} {
		if !isTrue(db, a) {
			t.Errorf("aws_db_instance: %s must be true", a)
		}
	}
	if isTrue(db, "publicly_accessible") {
		t.Error("aws_db_instance must not be public")
	}
	if !refersTo(db, "kms_key_id", "aws_kms_key.") {
		t.Error("aws_db_instance: kms_key_id must be a customer-managed key")
	}
	if !refersTo(db, "deletion_protection", "var.deletion_protection") && !isTrue(db, "deletion_protection") {
		t.Error("aws_db_instance: deletion_protection must follow var.deletion_protection")
	}
	if isTrue(db, "skip_final_snapshot") {
		t.Error("aws_db_instance: skip_final_snapshot")
	}
	if v, ok := literal(db, "engine_version"); ok && !strings.HasPrefix(v.AsString(), "16") {
		t.Errorf("engine_version %s, want 16", v.AsString())
	}
	// The default of db_engine_version must be 16.x.
	for _, b := range blocks {
		if b.b.Type == "variable" && b.label(0) == "db_engine_version" {
			if v, ok := literal(b.b.Body, "default"); !ok || !strings.HasPrefix(v.AsString(), "16.") {
				t.Error("db_engine_version default must be PostgreSQL 16.x")
			}
		}
	}
	var forceSSL bool
	for _, pg := range resourcesOf(blocks, "aws_db_parameter_group") {
		for _, p := range nested(pg.b.Body, "parameter") {
			if isString(p, "name", "rds.force_ssl") && isString(p, "value", "1") {
				forceSSL = true
			}
		}
	}
	if !forceSSL {
		t.Error("no parameter group with rds.force_ssl = 1")
	}
}

func TestTerraformRedis(t *testing.T) {
	t.Parallel()
	rgs := resourcesOf(tfConfig(t), "aws_elasticache_replication_group")
	if len(rgs) != 1 {
		t.Fatalf("want one aws_elasticache_replication_group, got %d", len(rgs))
	}
	rg := rgs[0].b.Body
	for _, a := range []string{"transit_encryption_enabled", "at_rest_encryption_enabled", "automatic_failover_enabled", "multi_az_enabled"} {
		if !isTrue(rg, a) {
			t.Errorf("replication group: %s must be true", a)
		}
	}
	if !isString(rg, "cluster_mode", "enabled") {
		t.Error("replication group: cluster_mode must be enabled")
	}
	if !refersTo(rg, "auth_token", "aws_secretsmanager_secret_version.") {
		t.Error("replication group: auth_token must come from Secrets Manager")
	}
	if !refersTo(rg, "kms_key_id", "aws_kms_key.") {
		t.Error("replication group: kms_key_id must be a customer-managed key")
	}
}

func TestTerraformKMS(t *testing.T) {
	t.Parallel()
	keys := resourcesOf(tfConfig(t), "aws_kms_key")
	if len(keys) == 0 {
		t.Fatal("no aws_kms_key")
	}
	var vault bool
	for _, k := range keys {
		if !isTrue(k.b.Body, "enable_key_rotation") {
			t.Errorf("aws_kms_key.%s: enable_key_rotation must be true", k.label(1))
		}
		if k.label(1) == "vault" {
			vault = true
		}
	}
	if !vault {
		t.Error("no aws_kms_key.vault")
	}
}

func TestTerraformBuckets(t *testing.T) {
	t.Parallel()
	blocks := tfConfig(t)
	buckets := resourcesOf(blocks, "aws_s3_bucket")
	if len(buckets) != 2 {
		t.Fatalf("want evidence and exports buckets, got %d", len(buckets))
	}
	// Each bucket has its companion resources, pointing at it.
	companions := func(typ, bucket string) []*hclsyntax.Body {
		var out []*hclsyntax.Body
		for _, r := range resourcesOf(blocks, typ) {
			if refersTo(r.b.Body, "bucket", "aws_s3_bucket."+bucket+".") {
				out = append(out, r.b.Body)
			}
		}
		return out
	}
	for _, b := range buckets {
		name := b.label(1)
		pab := companions("aws_s3_bucket_public_access_block", name)
		if len(pab) != 1 {
			t.Errorf("bucket %s: want one public access block", name)
		} else {
			for _, a := range []string{"block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"} {
				if !isTrue(pab[0], a) {
					t.Errorf("bucket %s: %s must be true", name, a)
				}
			}
		}
		sse := companions("aws_s3_bucket_server_side_encryption_configuration", name)
		var kms bool
		for _, s := range sse {
			for _, rule := range nested(s, "rule") {
				for _, def := range nested(rule, "apply_server_side_encryption_by_default") {
					kms = isString(def, "sse_algorithm", "aws:kms") && refersTo(def, "kms_master_key_id", "aws_kms_key.")
				}
			}
		}
		if !kms {
			t.Errorf("bucket %s: default encryption must be SSE-KMS with a customer-managed key", name)
		}
		ver := companions("aws_s3_bucket_versioning", name)
		if len(ver) != 1 || !isString(nested(ver[0], "versioning_configuration")[0], "status", "Enabled") {
			t.Errorf("bucket %s: versioning must be Enabled", name)
		}
		if len(companions("aws_s3_bucket_policy", name)) != 1 {
			t.Errorf("bucket %s: no bucket policy (TLS only)", name)
		}
	}

	evidence := resource(t, blocks, "aws_s3_bucket", "evidence").b.Body
	if !isTrue(evidence, "object_lock_enabled") {
		t.Error("evidence bucket: object_lock_enabled must be true")
	}
	locks := companions("aws_s3_bucket_object_lock_configuration", "evidence")
	if len(locks) != 1 {
		t.Fatal("evidence bucket: want one aws_s3_bucket_object_lock_configuration")
	}
	var compliance bool
	for _, rule := range nested(locks[0], "rule") {
		for _, dr := range nested(rule, "default_retention") {
			compliance = isString(dr, "mode", "COMPLIANCE") && refersTo(dr, "days", "var.evidence_retention_days")
		}
	}
	if !compliance {
		t.Error("evidence bucket: default retention must be COMPLIANCE for var.evidence_retention_days")
	}
	var expiry bool
	for _, lc := range companions("aws_s3_bucket_lifecycle_configuration", "exports") {
		for _, rule := range nested(lc, "rule") {
			for _, e := range nested(rule, "expiration") {
				expiry = refersTo(e, "days", "var.export_expiry_days")
			}
		}
	}
	if !expiry {
		t.Error("exports bucket: lifecycle expiration must follow var.export_expiry_days")
	}
}

func TestTerraformSecretsAndIAM(t *testing.T) {
	t.Parallel()
	blocks := tfConfig(t)
	secrets := map[string]bool{}
	for _, s := range resourcesOf(blocks, "aws_secretsmanager_secret") {
		secrets[s.label(1)] = true
		if !refersTo(s.b.Body, "kms_key_id", "aws_kms_key.") {
			t.Errorf("secret %s: kms_key_id must be a customer-managed key", s.label(1))
		}
	}
	for _, want := range []string{"database", "redis", "stripe", "partners"} {
		if !secrets[want] {
			t.Errorf("no aws_secretsmanager_secret.%s", want)
		}
	}
	// Operator-supplied secrets get no value from code.
	for _, v := range resourcesOf(blocks, "aws_secretsmanager_secret_version") {
		for _, s := range []string{"stripe", "partners", "partner_tls"} {
			if refersTo(v.b.Body, "secret_id", "aws_secretsmanager_secret."+s+".") {
				t.Errorf("aws_secretsmanager_secret_version.%s sets the %s secret's value in code", v.label(1), s)
			}
		}
	}
	// No literal credentials anywhere.
	var walk func(body *hclsyntax.Body, where string)
	walk = func(body *hclsyntax.Body, where string) {
		for name := range body.Attributes {
			if !secretLike(name) || name == "auth_token_update_strategy" || strings.HasSuffix(name, "_arn") {
				continue
			}
			if v, ok := literal(body, name); ok && v.Type() == cty.String && v.AsString() != "" {
				t.Errorf("%s: %s is a literal", where, name)
			}
		}
		for _, b := range body.Blocks {
			walk(b.Body, where)
		}
	}
	for _, b := range blocks {
		walk(b.b.Body, b.file+": "+b.b.Type+" "+strings.Join(b.b.Labels, "."))
	}

	// IAM: the vault key is usable only with the insurer encryption
	// context; each role trusts exactly its own service account.
	var vaultPolicy *hclsyntax.Body
	for _, b := range blocks {
		if b.b.Type == "data" && b.label(0) == "aws_iam_policy_document" && b.label(1) == "vault_use" {
			vaultPolicy = b.b.Body
		}
	}
	if vaultPolicy == nil {
		t.Fatal("no aws_iam_policy_document.vault_use")
	}
	var ctxCond bool
	for _, st := range nested(vaultPolicy, "statement") {
		for _, c := range nested(st, "condition") {
			if v, ok := literal(c, "variable"); ok && strings.HasPrefix(v.AsString(), "kms:EncryptionContext") {
				ctxCond = true
			}
		}
		if v, ok := literal(st, "actions"); ok {
			for _, a := range v.AsValueSlice() {
				if a.AsString() == "kms:*" || a.AsString() == "*" {
					t.Error("vault_use grants a wildcard action")
				}
			}
		}
	}
	if !ctxCond {
		t.Error("vault_use: no kms:EncryptionContext condition")
	}
	for _, b := range blocks {
		if b.b.Type == "data" && b.label(0) == "aws_iam_policy_document" && (b.label(1) == "api" || b.label(1) == "worker") {
			if !refersTo(b.b.Body, "source_policy_documents", "data.aws_iam_policy_document.vault_use") {
				t.Errorf("%s policy does not include vault_use", b.label(1))
			}
		}
	}
	roles := resourcesOf(blocks, "aws_iam_role")
	if len(roles) == 0 {
		t.Fatal("no IAM roles")
	}
	for _, r := range roles {
		if !refersTo(r.b.Body, "assume_role_policy", "data.aws_iam_policy_document.assume") {
			t.Errorf("aws_iam_role.%s: must trust a service account through IRSA", r.label(1))
		}
	}
}
