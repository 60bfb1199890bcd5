package vault

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"

	"github.com/borderproof/borderproof/internal/errs"
)

// KMSConfig configures the AWS KMS key provider.
type KMSConfig struct {
	// KeyID is the key-encryption key: a key id, key ARN, alias name
	// ("alias/borderproof") or alias ARN.
	KeyID string
	// Endpoint overrides the KMS endpoint (BaseEndpoint), for local-kms or a
	// VPC endpoint. Empty uses the regional AWS endpoint.
	Endpoint string
}

// Validate names the bad setting.
func (c KMSConfig) Validate() error {
	var f errs.Fields
	if c.KeyID == "" {
		f.Add("kms.keyId", "is required")
	}
	return f.Err()
}

// KMS is a KeyProvider backed by AWS KMS. Insurer keys are generated with
// GenerateDataKey (AES_256) and unwrapped with Decrypt, both with the
// encryption context given by the vault ({"insurer": id}); KMS refuses to
// decrypt under any other context, and CloudTrail records the context.
type KMS struct {
	client *kms.Client
	keyID  string
}

// NewKMS builds the provider from an AWS configuration (region and
// credentials, loaded by the caller) and cfg.
func NewKMS(awsCfg aws.Config, cfg KMSConfig) (*KMS, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	client := kms.NewFromConfig(awsCfg, func(o *kms.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
	})
	return &KMS{client: client, keyID: cfg.KeyID}, nil
}

// Name implements KeyProvider.
func (k *KMS) Name() string { return "aws-kms" }

// GenerateDataKey implements KeyProvider.
func (k *KMS) GenerateDataKey(ctx context.Context, encCtx map[string]string) ([]byte, []byte, error) {
	out, err := k.client.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{
		KeyId:             aws.String(k.keyID),
		KeySpec:           types.DataKeySpecAes256,
		EncryptionContext: encCtx,
	})
	if err != nil {
		return nil, nil, kmsError(err)
	}
	if len(out.Plaintext) != dataKeySize || len(out.CiphertextBlob) == 0 {
		zero(out.Plaintext)
		return nil, nil, errs.E(errs.Internal, "key service returned an unexpected key")
	}
	return out.Plaintext, out.CiphertextBlob, nil
}

// Decrypt implements KeyProvider.
func (k *KMS) Decrypt(ctx context.Context, wrapped []byte, encCtx map[string]string) ([]byte, error) {
	out, err := k.client.Decrypt(ctx, &kms.DecryptInput{
		CiphertextBlob:    wrapped,
		KeyId:             aws.String(k.keyID),
		EncryptionContext: encCtx,
	})
	if err != nil {
		return nil, kmsError(err)
	}
	if len(out.Plaintext) != dataKeySize {
		zero(out.Plaintext)
		return nil, errs.E(errs.Internal, "key service returned an unexpected key")
	}
	return out.Plaintext, nil
}

// kmsError classifies a KMS failure. The AWS message stays in the cause, for
// the log only.
func kmsError(err error) error {
	var (
		invalidCT  *types.InvalidCiphertextException
		incorrect  *types.IncorrectKeyException
		disabled   *types.DisabledException
		state      *types.KMSInvalidStateException
		notFound   *types.NotFoundException
		usage      *types.InvalidKeyUsageException
		keyUnavail *types.KeyUnavailableException
		internal   *types.KMSInternalException
		timeout    *types.DependencyTimeoutException
		limit      *types.LimitExceededException
	)
	switch {
	case errors.As(err, &invalidCT), errors.As(err, &incorrect):
		return &errs.Error{Kind: errs.Internal, Msg: "insurer key could not be opened",
			Err: errors.Join(ErrAuthentication, err)}
	case errors.As(err, &disabled), errors.As(err, &state), errors.As(err, &notFound), errors.As(err, &usage):
		return errs.Wrap(err, errs.FailedPrecondition, "key service refused the key-encryption key")
	case errors.As(err, &keyUnavail), errors.As(err, &internal), errors.As(err, &timeout), errors.As(err, &limit):
		return errs.Wrap(err, errs.Unavailable, "key service unavailable")
	}
	var api smithy.APIError
	if errors.As(err, &api) && api.ErrorCode() == "AccessDeniedException" {
		return errs.Wrap(err, errs.FailedPrecondition, "key service refused the key-encryption key")
	}
	// Network failures, throttling, a cancelled context.
	return unavailable(err)
}
