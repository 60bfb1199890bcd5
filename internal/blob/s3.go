package blob

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/borderproof/borderproof/internal/errs"
)

// S3Config configures the S3 store.
type S3Config struct {
	// Bucket holds every blob.
	Bucket string
	// Endpoint overrides the S3 endpoint (BaseEndpoint), for an
	// S3-compatible server. Empty uses the regional AWS endpoint.
	Endpoint string
	// UsePathStyle addresses the bucket in the path rather than the host
	// name (most S3-compatible servers need it).
	UsePathStyle bool
	// SSE is the server-side encryption: "" (the bucket default), "AES256"
	// or "aws:kms".
	SSE string
	// SSEKMSKeyID is the KMS key for SSE "aws:kms" (empty: the AWS-managed
	// key). Production sets it.
	SSEKMSKeyID string
}

// Validate names the bad setting.
func (c S3Config) Validate() error {
	var f errs.Fields
	if c.Bucket == "" {
		f.Add("s3.bucket", "is required")
	}
	switch c.SSE {
	case "", string(types.ServerSideEncryptionAes256):
		if c.SSEKMSKeyID != "" {
			f.Add("s3.sseKmsKeyId", "needs s3.sse = aws:kms")
		}
	case string(types.ServerSideEncryptionAwsKms):
	default:
		f.Add("s3.sse", "must be empty, AES256 or aws:kms")
	}
	return f.Err()
}

// S3 is a Store in an S3 bucket. Signed URLs are presigned GET URLs.
type S3 struct {
	cfg     S3Config
	client  *s3.Client
	presign *s3.PresignClient
	log     *slog.Logger
}

// NewS3 builds the store from an AWS configuration (region and credentials,
// loaded by the caller) and cfg.
func NewS3(awsCfg aws.Config, cfg S3Config, logger *slog.Logger) (*S3, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		if strings.HasPrefix(strings.ToLower(cfg.Endpoint), "http://") {
			// A body is streamed, and the SDK can checksum a stream only
			// in a trailer, which it sends only over TLS; on a plain-HTTP
			// endpoint (a local S3 emulator) every PutObject would fail.
			o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		}
		o.UsePathStyle = cfg.UsePathStyle
	})
	return &S3{cfg: cfg, client: client, presign: s3.NewPresignClient(client), log: logger}, nil
}

// Client returns the underlying S3 client (for bucket administration in
// tests and tooling).
func (s *S3) Client() *s3.Client { return s.client }

// Put implements Store.
func (s *S3) Put(ctx context.Context, key string, body io.Reader, size int64, contentType string) error {
	if err := checkPut(key, size); err != nil {
		return err
	}
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	in := s.putInput(key, size, contentType)
	er := &exactReader{r: body, left: size}
	in.Body = er
	// The body is a stream: sign the request without hashing the payload
	// (the SDK would have to read it twice). Over HTTPS the SDK still sends
	// a trailing checksum that S3 verifies.
	_, err := s.client.PutObject(ctx, in, s3.WithAPIOptions(v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware))
	if er.mismatch() {
		return sizeMismatch()
	}
	if err != nil {
		return s.classify(err, "blob could not be stored")
	}
	return nil
}

func (s *S3) putInput(key string, size int64, contentType string) *s3.PutObjectInput {
	in := &s3.PutObjectInput{
		Bucket:        aws.String(s.cfg.Bucket),
		Key:           aws.String(key),
		ContentLength: aws.Int64(size),
		ContentType:   aws.String(contentType),
	}
	if s.cfg.SSE != "" {
		in.ServerSideEncryption = types.ServerSideEncryption(s.cfg.SSE)
	}
	if s.cfg.SSEKMSKeyID != "" {
		in.SSEKMSKeyId = aws.String(s.cfg.SSEKMSKeyID)
	}
	return in
}

// Get implements Store.
func (s *S3) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := ValidateKey(key); err != nil {
		return nil, err
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: aws.String(key)})
	if err != nil {
		return nil, s.classify(err, "blob could not be read")
	}
	return out.Body, nil
}

// Delete implements Store.
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: aws.String(key)})
	if err != nil && !errs.Is(s.classify(err, ""), errs.NotFound) {
		return s.classify(err, "blob could not be deleted")
	}
	return nil
}

// List implements Store, a page of up to 1,000 keys at a time.
func (s *S3) List(ctx context.Context, prefix string) ([]string, error) {
	if err := checkPrefix(prefix); err != nil {
		return nil, err
	}
	var keys []string
	pages := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: aws.String(s.cfg.Bucket), Prefix: aws.String(prefix)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, s.classify(err, "blobs could not be listed")
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	slices.Sort(keys) // S3 lists in UTF-8 byte order already; emulators may not
	return keys, nil
}

// Exists implements Store.
func (s *S3) Exists(ctx context.Context, key string) (bool, error) {
	if err := ValidateKey(key); err != nil {
		return false, err
	}
	_, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: aws.String(key)})
	if err == nil {
		return true, nil
	}
	if err := s.classify(err, "blob could not be checked"); !errs.Is(err, errs.NotFound) {
		return false, err
	}
	return false, nil
}

// SignedURL implements Store with a presigned GET URL. It does not check
// that the blob exists.
func (s *S3) SignedURL(ctx context.Context, key string, ttl time.Duration) (string, error) {
	if err := ValidateKey(key); err != nil {
		return "", err
	}
	if err := checkTTL(ttl); err != nil {
		return "", err
	}
	req, err := s.presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: aws.String(key)},
		s3.WithPresignExpires(ttl))
	if err != nil {
		return "", s.classify(err, "signed URL could not be made")
	}
	return req.URL, nil
}

// EnsureBucket creates the bucket when it does not exist (dev and tests;
// production buckets are made by infrastructure code).
func (s *S3) EnsureBucket(ctx context.Context) error {
	_, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(s.cfg.Bucket)})
	if err == nil {
		return nil
	}
	if !errs.Is(s.classify(err, ""), errs.NotFound) {
		return s.classify(err, "bucket could not be checked")
	}
	_, err = s.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(s.cfg.Bucket)})
	var owned *types.BucketAlreadyOwnedByYou
	if err != nil && !errors.As(err, &owned) {
		return s.classify(err, "bucket could not be created")
	}
	s.log.InfoContext(ctx, "blob: created bucket", "bucket", s.cfg.Bucket)
	return nil
}

// classify maps an S3 failure to an errs kind with a client-safe message;
// the cause (which names the bucket and key) is kept for the log.
func (s *S3) classify(err error, msg string) error {
	var (
		noKey    *types.NoSuchKey
		notFound *types.NotFound
		noBucket *types.NoSuchBucket
		api      smithy.APIError
		resp     interface{ HTTPStatusCode() int }
	)
	switch {
	case errors.As(err, &noKey), errors.As(err, &notFound):
		return errs.Wrap(err, errs.NotFound, "blob not found")
	case errors.As(err, &noBucket):
		return errs.Wrap(err, errs.FailedPrecondition, "blob storage is misconfigured")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return errs.Wrap(err, errs.Unavailable, "blob storage did not answer in time")
	}
	if errors.As(err, &resp) {
		switch code := resp.HTTPStatusCode(); {
		case code == http.StatusNotFound:
			return errs.Wrap(err, errs.NotFound, "blob not found")
		case code == http.StatusForbidden:
			return errs.Wrap(err, errs.FailedPrecondition, "blob storage refused access")
		case code >= 500 || code == http.StatusTooManyRequests:
			return errs.Wrap(err, errs.Unavailable, "blob storage unavailable")
		}
	}
	if errors.As(err, &api) && api.ErrorFault() == smithy.FaultClient {
		return errs.Wrap(err, errs.Internal, msg)
	}
	return errs.Wrap(err, errs.Unavailable, "blob storage unavailable")
}
