package vault

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/testenv"
)

// newTestKMS creates a fresh key in local-kms and returns a provider for it.
func newTestKMS(t *testing.T) *KMS {
	t.Helper()
	endpoint := testenv.Require(t, testenv.KMSEndpointVar)
	awsCfg := aws.Config{
		Region:      "eu-west-1",
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
	}
	admin := kms.NewFromConfig(awsCfg, func(o *kms.Options) { o.BaseEndpoint = aws.String(endpoint) })
	out, err := admin.CreateKey(context.Background(), &kms.CreateKeyInput{Description: aws.String("borderproof vault test")})
	if err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	p, err := NewKMS(awsCfg, KMSConfig{KeyID: *out.KeyMetadata.KeyId, Endpoint: endpoint})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestKMSProvider(t *testing.T) {
	t.Parallel()
	p := newTestKMS(t)
	ctx := context.Background()
	encCtx := map[string]string{"insurer": "ins_A"}
	plain, wrapped, err := p.GenerateDataKey(ctx, encCtx)
	if err != nil {
		t.Fatal(err)
	}
	if len(plain) != 32 || len(wrapped) == 0 || bytes.Contains(wrapped, plain) {
		t.Fatalf("data key: %d bytes, wrapped %d", len(plain), len(wrapped))
	}
	got, err := p.Decrypt(ctx, wrapped, encCtx)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Decrypt: %v", err)
	}
	for _, bad := range []map[string]string{{"insurer": "ins_B"}, nil, {"insurer": "ins_A", "x": "y"}} {
		_, err := p.Decrypt(ctx, wrapped, bad)
		if err == nil {
			t.Fatalf("decrypted under context %v", bad)
		}
		if !errors.Is(err, ErrAuthentication) {
			t.Errorf("context %v: %v, want ErrAuthentication", bad, err)
		}
		if e, _ := errs.As(err); e == nil || e.Msg != "insurer key could not be opened" {
			t.Errorf("client message: %v", err)
		}
	}
	// Tampered ciphertext. (local-kms's blob starts with the key ARN, which
	// it reads only when no KeyId is passed; the tail is authenticated.)
	bad := bytes.Clone(wrapped)
	bad[len(bad)-1] ^= 1
	if _, err := p.Decrypt(ctx, bad, encCtx); err == nil {
		t.Fatal("decrypted a tampered blob")
	}
}

func TestKMSUnknownKey(t *testing.T) {
	t.Parallel()
	endpoint := testenv.Require(t, testenv.KMSEndpointVar)
	p, err := NewKMS(aws.Config{Region: "eu-west-1", Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")},
		KMSConfig{KeyID: "arn:aws:kms:eu-west-1:111122223333:key/00000000-0000-0000-0000-000000000000", Endpoint: endpoint})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = p.GenerateDataKey(context.Background(), map[string]string{"insurer": "ins_A"})
	if errs.KindOf(err) != errs.FailedPrecondition {
		t.Fatalf("unknown key: %v", err)
	}
	if _, err := NewKMS(aws.Config{}, KMSConfig{}); errs.KindOf(err) != errs.Invalid {
		t.Fatalf("empty config: %v", err)
	}
}

func TestKMSUnreachable(t *testing.T) {
	t.Parallel()
	p, err := NewKMS(aws.Config{Region: "eu-west-1", Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
		RetryMaxAttempts: 1}, KMSConfig{KeyID: "alias/x", Endpoint: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = p.GenerateDataKey(context.Background(), map[string]string{"insurer": "ins_A"})
	if errs.KindOf(err) != errs.Unavailable {
		t.Fatalf("unreachable: %v", err)
	}
}

// The whole vault over KMS: seal in one process, open in another.
func TestVaultOverKMS(t *testing.T) {
	t.Parallel()
	p := newTestKMS(t)
	store := &MemKeyStore{}
	ctx := context.Background()
	v1, err := New(Config{}, p, store, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer v1.Close()
	w := mustSubjectKey(t, v1, "ins_A", "ver_1")
	sealed := mustSeal(t, v1, "ins_A", "ver_1", w, PurposePolicyholder, secretName)
	idx1, err := v1.BlindIndex(ctx, "ins_A", IndexDocument, "GBR:123")
	if err != nil {
		t.Fatal(err)
	}

	v2, err := New(Config{}, p, store, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer v2.Close()
	got, err := v2.Open(ctx, "ins_A", "ver_1", w, PurposePolicyholder, sealed)
	if err != nil || !bytes.Equal(got, secretName) {
		t.Fatalf("open in a second vault: %v", err)
	}
	idx2, err := v2.BlindIndex(ctx, "ins_A", IndexDocument, "GBR:123")
	if err != nil || idx1 != idx2 {
		t.Fatalf("blind index differs across processes: %v", err)
	}
	// The insurer key record moved to another insurer does not open there.
	rec := store.All()["ins_A"]
	store.PutInsurerKeyIfAbsent(ctx, "ins_X", rec)
	if _, err := v2.NewSubjectKey(ctx, "ins_X", "ver_1"); !errors.Is(err, ErrAuthentication) {
		t.Fatalf("insurer key of another insurer: %v", err)
	}
}
