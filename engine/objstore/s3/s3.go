// Package s3 is the objstore implementation for S3 and S3-compatible
// stores, s3://bucket/prefix, through aws-sdk-go-v2.
//
// Credentials and region come from the AWS default chain (environment,
// shared config, SSO, IMDS, …). An endpoint override (Settings.Endpoint or
// $AWS_ENDPOINT_URL_S3) with path-style addressing serves S3-compatible
// servers such as versitygw or MinIO.
//
// The SDK's own retryer is switched off: this package retries every
// request itself, so that it can count each attempt for the
// shadow_objectstore_requests_total metric, resume a GET whose body broke
// off mid-stream from the byte where it stopped, and end with one error
// that names the bucket, the key and the number of attempts.
//
//	attempt 1 ──5xx/429/throttle/timeout/conn error──► sleep rand[0, min(max, base·2^(n-1))) ──► attempt 2 … MaxAttempts
//	          └─403/404/4xx─► final error at once
package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/cassmove/shadow/engine/objstore"
)

func init() {
	objstore.Register("s3", func(ctx context.Context, u *url.URL, settings objstore.Settings) (objstore.Store, error) {
		if u.Host == "" {
			return nil, fmt.Errorf("store %q: %w: no bucket; want s3://bucket/prefix", u.String(), objstore.ErrBadURI)
		}
		return New(ctx, u.Host, strings.TrimPrefix(u.Path, "/"), settings)
	})
}

// partSize is the size of one part of a multipart upload, and the largest
// object Put sends in a single PUT.
const partSize = 16 << 20

// Store is a bucket, or a prefix of one.
type Store struct {
	client   *s3.Client
	bucket   string
	prefix   string // "" or ending with "/"
	settings objstore.Settings
	pageSize int32 // keys per listing page; 0 = the server's default (1000 on S3)
}

// New returns the store for bucket/prefix.
func New(ctx context.Context, bucket, prefix string, settings objstore.Settings) (*Store, error) {
	settings = settings.WithDefaults()
	endpoint := settings.Endpoint
	if endpoint == "" {
		endpoint = os.Getenv("AWS_ENDPOINT_URL_S3")
	}
	httpClient := awshttp.NewBuildableClient().
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = settings.Timeout }).
		WithTransportOptions(func(t *http.Transport) {
			t.ResponseHeaderTimeout = settings.Timeout
			t.MaxIdleConnsPerHost = max(settings.Concurrency*2, 16)
		}).
		WithReadTimeout(settings.Timeout)
	opts := []func(*config.LoadOptions) error{config.WithHTTPClient(httpClient)}
	if settings.Region != "" {
		opts = append(opts, config.WithRegion(settings.Region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("s3://%s: loading AWS configuration: %w", bucket, err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
		o.UsePathStyle = settings.PathStyle
		o.Retryer = aws.NopRetryer{}
		o.RetryMaxAttempts = 1
		// S3-compatible servers differ in their support of the newer
		// flexible checksums; send and check them only where S3 requires.
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		o.DisableLogOutputChecksumValidationSkipped = true
	})
	prefix = strings.Trim(prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	return &Store{client: client, bucket: bucket, prefix: prefix, settings: settings}, nil
}

// URI returns s3://bucket/prefix.
func (s *Store) URI() string { return "s3://" + s.bucket + "/" + strings.TrimSuffix(s.prefix, "/") }

// Bucket is the bucket name.
func (s *Store) Bucket() string { return s.bucket }

func (s *Store) fullKey(key string) string { return s.prefix + key }

// where names an object in errors: s3://bucket/full/key.
func (s *Store) where(key string) string { return "s3://" + s.bucket + "/" + s.fullKey(key) }

// do runs one request with retries. f makes one attempt.
func (s *Store) do(ctx context.Context, op objstore.Operation, key string, f func(context.Context) error) error {
	var last error
	for attempt := 1; ; attempt++ {
		start := time.Now()
		err := f(ctx)
		s.observe(op, key, attempt, start, err)
		if err == nil {
			return nil
		}
		last = err
		if !retryable(ctx, err) {
			return s.final(ctx, op, key, attempt, err)
		}
		if attempt >= s.settings.Retry.MaxAttempts {
			return s.final(ctx, op, key, attempt, last)
		}
		if err := s.sleep(ctx, attempt); err != nil {
			return s.final(ctx, op, key, attempt, last)
		}
	}
}

// sleep waits the backoff before retry number attempt (full jitter).
func (s *Store) sleep(ctx context.Context, attempt int) error {
	d := backoff(s.settings.Retry, attempt)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// backoff is a random delay in [base/2, cap] where cap = min(MaxDelay,
// BaseDelay·2^(attempt-1)): exponential, with jitter so that parallel
// downloads that failed together do not retry together.
func backoff(r objstore.Retry, attempt int) time.Duration {
	c := r.BaseDelay << min(attempt-1, 20)
	if c > r.MaxDelay || c <= 0 {
		c = r.MaxDelay
	}
	lo := r.BaseDelay / 2
	if c <= lo {
		return c
	}
	return lo + rand.N(c-lo)
}

func (s *Store) observe(op objstore.Operation, key string, attempt int, start time.Time, err error) {
	res := objstore.ResultOK
	switch {
	case err == nil:
	case isNotFound(err):
		res = objstore.ResultNotFound
	default:
		res = objstore.ResultError
	}
	s.settings.Observe(objstore.Request{Store: s.URI(), Operation: op, Result: res, Key: key, Attempt: attempt, Duration: time.Since(start), Err: err})
}

// final builds the one error a caller sees.
func (s *Store) final(ctx context.Context, op objstore.Operation, key string, attempts int, err error) error {
	where := s.where(key)
	if op == objstore.OpList {
		where = "s3://" + s.bucket + "/" + s.fullKey(key) + "*"
	}
	switch {
	case isNoSuchBucket(err):
		return fmt.Errorf("s3 %s %s: bucket %q does not exist: %w", op, where, s.bucket, objstore.ErrNotFound)
	case isNotFound(err):
		return fmt.Errorf("s3 %s %s: %w", op, where, objstore.ErrNotFound)
	case isAccessDenied(err):
		return fmt.Errorf("s3 %s %s: access denied (check the AWS credentials and the bucket policy): %s: %w", op, where, describe(err), objstore.ErrAccessDenied)
	case ctx.Err() != nil:
		return fmt.Errorf("s3 %s %s: %w", op, where, ctx.Err())
	}
	if attempts > 1 {
		return fmt.Errorf("s3 %s %s: failed after %d attempts: %s: %w", op, where, attempts, describe(err), objstore.ErrUnavailable)
	}
	return fmt.Errorf("s3 %s %s: %s", op, where, describe(err))
}

// describe shortens an SDK error to what a person needs: the HTTP status
// and S3 error code, or the network error.
func describe(err error) string {
	var apiErr smithy.APIError
	var respErr *smithyhttp.ResponseError
	status := 0
	if errors.As(err, &respErr) {
		status = respErr.HTTPStatusCode()
	}
	if errors.As(err, &apiErr) {
		msg := apiErr.ErrorCode()
		if m := apiErr.ErrorMessage(); m != "" {
			msg += ": " + m
		}
		if status != 0 {
			return fmt.Sprintf("HTTP %d %s", status, msg)
		}
		return msg
	}
	if status != 0 {
		return fmt.Sprintf("HTTP %d", status)
	}
	var toErr *awshttp.ResponseTimeoutError
	if errors.As(err, &toErr) {
		return toErr.Error()
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return opErr.Error()
	}
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		return urlErr.Err.Error()
	}
	return err.Error()
}

var retryables = retry.IsErrorRetryables(retry.DefaultRetryables)

// retryable reports whether err is transient: 5xx, 429 and throttling,
// timeouts, and connection errors, including a body that broke off.
func retryable(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	if isNotFound(err) || isAccessDenied(err) {
		return false
	}
	var respErr *smithyhttp.ResponseError
	if errors.As(err, &respErr) {
		code := respErr.HTTPStatusCode()
		if code >= 500 || code == http.StatusTooManyRequests {
			return true
		}
	}
	if retryables.IsErrorRetryable(err) == aws.TrueTernary {
		return true
	}
	var netErr net.Error
	var toErr *awshttp.ResponseTimeoutError
	switch {
	case errors.As(err, &toErr), errors.As(err, &netErr):
		return true
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EPIPE),
		errors.Is(err, errTruncated):
		return true
	}
	return false
}

func isNotFound(err error) bool {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	if errors.As(err, &nsk) || errors.As(err, &nf) || isNoSuchBucket(err) {
		return true
	}
	var respErr *smithyhttp.ResponseError
	return errors.As(err, &respErr) && respErr.HTTPStatusCode() == http.StatusNotFound
}

func isNoSuchBucket(err error) bool {
	var nsb *types.NoSuchBucket
	if errors.As(err, &nsb) {
		return true
	}
	var apiErr smithy.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode() == "NoSuchBucket"
}

func isAccessDenied(err error) bool {
	var respErr *smithyhttp.ResponseError
	if errors.As(err, &respErr) && (respErr.HTTPStatusCode() == http.StatusForbidden || respErr.HTTPStatusCode() == http.StatusUnauthorized) {
		return true
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode() {
		case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken":
			return true
		}
	}
	return false
}

// Stat is a HEAD.
func (s *Store) Stat(ctx context.Context, key string) (objstore.Object, error) {
	var out *s3.HeadObjectOutput
	err := s.do(ctx, objstore.OpHead, key, func(ctx context.Context) error {
		var err error
		out, err = s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: aws.String(s.fullKey(key))})
		return err
	})
	if err != nil {
		return objstore.Object{}, err
	}
	o := objstore.Object{Key: key, Size: aws.ToInt64(out.ContentLength), ETag: aws.ToString(out.ETag)}
	if out.LastModified != nil {
		o.ModTime = out.LastModified.UTC()
	}
	return o, nil
}

// List pages through ListObjectsV2. Each page is one request, retried on
// its own.
func (s *Store) List(ctx context.Context, prefix, delimiter string) iter.Seq2[objstore.Object, error] {
	return func(yield func(objstore.Object, error) bool) {
		in := &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: aws.String(s.fullKey(prefix))}
		if delimiter != "" {
			in.Delimiter = aws.String(delimiter)
		}
		if s.pageSize > 0 {
			in.MaxKeys = aws.Int32(s.pageSize)
		}
		for {
			var out *s3.ListObjectsV2Output
			err := s.do(ctx, objstore.OpList, prefix, func(ctx context.Context) error {
				var err error
				out, err = s.client.ListObjectsV2(ctx, in)
				return err
			})
			if err != nil {
				yield(objstore.Object{}, err)
				return
			}
			page := make([]objstore.Object, 0, len(out.Contents)+len(out.CommonPrefixes))
			for _, c := range out.Contents {
				k := strings.TrimPrefix(aws.ToString(c.Key), s.prefix)
				o := objstore.Object{Key: k, Size: aws.ToInt64(c.Size), ETag: aws.ToString(c.ETag)}
				if c.LastModified != nil {
					o.ModTime = c.LastModified.UTC()
				}
				page = append(page, o)
			}
			for _, p := range out.CommonPrefixes {
				page = append(page, objstore.Object{Key: strings.TrimPrefix(aws.ToString(p.Prefix), s.prefix), IsPrefix: true})
			}
			// S3 returns objects and common prefixes apart; one listing
			// is in key order.
			slices.SortFunc(page, func(a, b objstore.Object) int { return strings.Compare(a.Key, b.Key) })
			for _, o := range page {
				if !yield(o, nil) {
					return
				}
			}
			if !aws.ToBool(out.IsTruncated) || out.NextContinuationToken == nil {
				return
			}
			in.ContinuationToken = out.NextContinuationToken
		}
	}
}

// ReadRange is a (ranged) GET whose reader resumes after a dropped
// connection or a stalled body from the byte where it stopped.
func (s *Store) ReadRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	if off < 0 {
		return nil, fmt.Errorf("s3 get %s: negative offset %d", s.where(key), off)
	}
	if n == 0 {
		return io.NopCloser(bytes.NewReader(nil)), nil
	}
	r := &rangeReader{s: s, ctx: ctx, key: key, off: off, end: -1}
	if n > 0 {
		r.end = off + n
	}
	if err := r.open(); err != nil {
		return nil, err
	}
	return r, nil
}

var errTruncated = errors.New("response body ended early")

type rangeReader struct {
	s        *Store
	ctx      context.Context
	key      string
	off, end int64 // next byte to read; end exclusive, -1 until known
	body     io.ReadCloser
	failures int // attempts that failed since the last byte arrived
}

// open issues the GET for [off, end) with retries.
func (r *rangeReader) open() error {
	var out *s3.GetObjectOutput
	get := func(ctx context.Context) error {
		in := &s3.GetObjectInput{Bucket: &r.s.bucket, Key: aws.String(r.s.fullKey(r.key))}
		switch {
		case r.end >= 0:
			in.Range = aws.String(fmt.Sprintf("bytes=%d-%d", r.off, r.end-1))
		case r.off > 0:
			in.Range = aws.String(fmt.Sprintf("bytes=%d-", r.off))
		}
		var err error
		out, err = r.s.client.GetObject(ctx, in)
		return err
	}
	// The attempts already spent on this reader count against the limit.
	var last error
	for attempt := r.failures + 1; ; attempt++ {
		start := time.Now()
		err := get(r.ctx)
		r.s.observe(objstore.OpGet, r.key, attempt, start, err)
		if err == nil {
			r.failures = attempt - 1
			break
		}
		last = err
		if !retryable(r.ctx, err) || attempt >= r.s.settings.Retry.MaxAttempts {
			return r.s.final(r.ctx, objstore.OpGet, r.key, attempt, last)
		}
		if err := r.s.sleep(r.ctx, attempt); err != nil {
			return r.s.final(r.ctx, objstore.OpGet, r.key, attempt, last)
		}
	}
	r.body = out.Body
	if r.end < 0 && out.ContentLength != nil {
		r.end = r.off + *out.ContentLength
	}
	return nil
}

func (r *rangeReader) Read(p []byte) (int, error) {
	for {
		if r.end >= 0 && r.off >= r.end {
			return 0, io.EOF
		}
		if r.body == nil {
			if err := r.open(); err != nil {
				return 0, err
			}
		}
		if r.end >= 0 && int64(len(p)) > r.end-r.off {
			p = p[:r.end-r.off]
		}
		n, err := r.body.Read(p)
		r.off += int64(n)
		if n > 0 {
			r.failures = 0
		}
		if err == nil {
			return n, nil
		}
		if err == io.EOF {
			if r.end < 0 || r.off >= r.end {
				return n, io.EOF
			}
			err = fmt.Errorf("%w at byte %d of %d", errTruncated, r.off, r.end)
		}
		// The body broke off: count a failed attempt, back off, resume.
		r.body.Close()
		r.body = nil
		r.failures++
		r.s.observe(objstore.OpGet, r.key, r.failures, time.Now(), err)
		if !retryable(r.ctx, err) || r.failures >= r.s.settings.Retry.MaxAttempts {
			return n, r.s.final(r.ctx, objstore.OpGet, r.key, r.failures, err)
		}
		if serr := r.s.sleep(r.ctx, r.failures); serr != nil {
			return n, r.s.final(r.ctx, objstore.OpGet, r.key, r.failures, err)
		}
		if n > 0 {
			return n, nil
		}
	}
}

func (r *rangeReader) Close() error {
	if r.body != nil {
		err := r.body.Close()
		r.body = nil
		return err
	}
	return nil
}

// Put uploads the object: one PUT up to 16 MiB, a multipart upload above,
// each PUT or part retried on its own.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	first := make([]byte, partSize)
	n, err := io.ReadFull(r, first)
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		first = first[:n]
		if size >= 0 && int64(n) != size {
			return fmt.Errorf("s3 put %s: got %d bytes, expected %d", s.where(key), n, size)
		}
		return s.putOne(ctx, key, first)
	case err != nil:
		return fmt.Errorf("s3 put %s: reading the data: %w", s.where(key), err)
	}
	// Exactly partSize bytes so far; is there more?
	var peek [1]byte
	m, perr := io.ReadFull(r, peek[:])
	if m == 0 && (perr == io.EOF || perr == io.ErrUnexpectedEOF) {
		return s.putOne(ctx, key, first)
	}
	if perr != nil {
		return fmt.Errorf("s3 put %s: reading the data: %w", s.where(key), perr)
	}
	return s.putMultipart(ctx, key, first, io.MultiReader(bytes.NewReader(peek[:]), r), size)
}

func (s *Store) putOne(ctx context.Context, key string, b []byte) error {
	return s.do(ctx, objstore.OpPut, key, func(ctx context.Context) error {
		_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
			Bucket: &s.bucket, Key: aws.String(s.fullKey(key)),
			Body: bytes.NewReader(b), ContentLength: aws.Int64(int64(len(b))),
		})
		return err
	})
}

func (s *Store) putMultipart(ctx context.Context, key string, first []byte, rest io.Reader, size int64) (err error) {
	var up *s3.CreateMultipartUploadOutput
	if err := s.do(ctx, objstore.OpPut, key, func(ctx context.Context) error {
		var err error
		up, err = s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &s.bucket, Key: aws.String(s.fullKey(key))})
		return err
	}); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			// Best effort: do not leave parts behind that cost money.
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.settings.Timeout)
			defer cancel()
			s.client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{Bucket: &s.bucket, Key: aws.String(s.fullKey(key)), UploadId: up.UploadId})
		}
	}()
	var parts []types.CompletedPart
	buf := first
	total := int64(0)
	for num := int32(1); ; num++ {
		part := buf
		var out *s3.UploadPartOutput
		if err := s.do(ctx, objstore.OpPut, key, func(ctx context.Context) error {
			var err error
			out, err = s.client.UploadPart(ctx, &s3.UploadPartInput{
				Bucket: &s.bucket, Key: aws.String(s.fullKey(key)), UploadId: up.UploadId,
				PartNumber: aws.Int32(num), Body: bytes.NewReader(part), ContentLength: aws.Int64(int64(len(part))),
			})
			return err
		}); err != nil {
			return err
		}
		parts = append(parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(num)})
		total += int64(len(part))
		if num == 1 {
			buf = make([]byte, partSize)
		}
		n, rerr := io.ReadFull(rest, buf[:partSize])
		if rerr != nil && rerr != io.EOF && rerr != io.ErrUnexpectedEOF {
			return fmt.Errorf("s3 put %s: reading the data: %w", s.where(key), rerr)
		}
		if n == 0 {
			break
		}
		buf = buf[:n]
	}
	if size >= 0 && total != size {
		return fmt.Errorf("s3 put %s: got %d bytes, expected %d", s.where(key), total, size)
	}
	return s.do(ctx, objstore.OpPut, key, func(ctx context.Context) error {
		_, err := s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
			Bucket: &s.bucket, Key: aws.String(s.fullKey(key)), UploadId: up.UploadId,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
		})
		return err
	})
}
