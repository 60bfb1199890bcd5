package blob

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/id"
	"github.com/borderproof/borderproof/internal/testenv"
)

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// testAWSConfig is what config.LoadDefaultConfig gives the service,
// including its checksum defaults (the zero value would skip checksums and
// hide a failure the service meets).
func testAWSConfig() aws.Config {
	return aws.Config{
		Region:                     "eu-west-1",
		Credentials:                credentials.NewStaticCredentialsProvider("test", "test", ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenSupported,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenSupported,
	}
}

func newTestS3(t *testing.T, cfg S3Config) *S3 {
	t.Helper()
	endpoint := testenv.Require(t, testenv.S3EndpointVar)
	if cfg.Bucket == "" {
		cfg.Bucket = "borderproof-blob-test"
	}
	cfg.Endpoint = endpoint
	cfg.UsePathStyle = true
	s, err := NewS3(testAWSConfig(), cfg, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureBucket(context.Background()); err != nil {
		t.Fatalf("EnsureBucket: %v", err)
	}
	return s
}

func TestS3Contract(t *testing.T) {
	t.Parallel()
	testStore(t, newTestS3(t, S3Config{}))
}

func TestS3ServerSideEncryption(t *testing.T) {
	t.Parallel()
	s := newTestS3(t, S3Config{SSE: "AES256"})
	key := "evidence/" + id.New("ver") + "/sse.bin"
	if err := s.Put(context.Background(), key, strings.NewReader("x"), 1, ""); err != nil {
		t.Fatal(err)
	}
	in := (&S3{cfg: S3Config{Bucket: "b", SSE: "aws:kms", SSEKMSKeyID: "arn:aws:kms:eu-west-1:111122223333:key/k"}}).putInput("k", 1, "text/csv")
	if in.ServerSideEncryption != types.ServerSideEncryptionAwsKms || aws.ToString(in.SSEKMSKeyId) != "arn:aws:kms:eu-west-1:111122223333:key/k" {
		t.Fatalf("SSE-KMS not requested: %+v", in)
	}
	if in := (&S3{cfg: S3Config{Bucket: "b"}}).putInput("k", 1, "text/csv"); in.ServerSideEncryption != "" || in.SSEKMSKeyId != nil {
		t.Fatal("SSE requested without configuration")
	}
}

func TestS3ConfigValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cfg S3Config
		ok  bool
	}{
		{S3Config{Bucket: "b"}, true},
		{S3Config{Bucket: "b", SSE: "AES256"}, true},
		{S3Config{Bucket: "b", SSE: "aws:kms", SSEKMSKeyID: "k"}, true},
		{S3Config{}, false},
		{S3Config{Bucket: "b", SSE: "rot13"}, false},
		{S3Config{Bucket: "b", SSEKMSKeyID: "k"}, false},
	} {
		if err := tc.cfg.Validate(); (err == nil) != tc.ok {
			t.Errorf("%+v: %v", tc.cfg, err)
		}
	}
}

func TestS3SignedURL(t *testing.T) {
	t.Parallel()
	s := newTestS3(t, S3Config{})
	ctx := context.Background()
	key := "exports/" + id.New("ins") + "/usage.csv"
	body := make([]byte, 70_000)
	rand.Read(body)
	if err := s.Put(ctx, key, bytes.NewReader(body), int64(len(body)), "text/csv"); err != nil {
		t.Fatal(err)
	}
	u, err := s.SignedURL(ctx, key, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(u, "X-Amz-Signature=") || !strings.Contains(u, "X-Amz-Expires=600") {
		t.Fatalf("not a presigned URL: %s", u)
	}
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, body) {
		t.Fatalf("GET presigned URL: %d, %d bytes", resp.StatusCode, len(got))
	}
	for _, ttl := range []time.Duration{0, -time.Second, 8 * 24 * time.Hour} {
		if _, err := s.SignedURL(ctx, key, ttl); errs.KindOf(err) != errs.Invalid {
			t.Errorf("ttl %v: %v", ttl, err)
		}
	}
}

func TestS3Unreachable(t *testing.T) {
	t.Parallel()
	cfg := testAWSConfig()
	cfg.RetryMaxAttempts = 1
	s, err := NewS3(cfg, S3Config{Bucket: "b", Endpoint: "http://127.0.0.1:1", UsePathStyle: true}, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Exists(context.Background(), "a/b"); errs.KindOf(err) != errs.Unavailable {
		t.Fatalf("unreachable: %v", err)
	}
}
