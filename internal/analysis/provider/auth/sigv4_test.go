package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/vanedev/vane/api/v1alpha1"
)

const (
	accessKey = "AKIDVANESIGV4TEST"
	secretKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	// the role's temporary credentials, as the STS stand-in issues them
	roleKey, roleSecret, roleToken = "ASIAVANEROLE", "r0le-s3cret-key", "r0le-session-t0ken"
)

var signedAt = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// authorization is the shape of a SigV4 Authorization header.
var authorization = regexp.MustCompile(`^AWS4-HMAC-SHA256 Credential=([A-Z0-9]+)/(\d{8})/([a-z0-9-]+)/([a-z0-9]+)/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$`)

// verify recomputes the signature of a signed request with the secret of its access key, as
// AWS does, and says what differs.
func verify(r *http.Request, body []byte, secrets map[string][2]string) string {
	m := authorization.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil {
		return "Authorization " + r.Header.Get("Authorization") + " is not a SigV4 signature"
	}
	key, ok := secrets[m[1]]
	if !ok {
		return "unknown access key " + m[1]
	}
	at, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return "X-Amz-Date: " + err.Error()
	}
	again, _ := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), strings.NewReader(string(body)))
	for _, h := range strings.Split(m[5], ";") {
		if h != "host" && h != "content-length" {
			again.Header.Set(h, r.Header.Get(h))
		}
	}
	again.ContentLength = int64(len(body))
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: m[1], SecretAccessKey: key[0], SessionToken: key[1]}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, again, hex.EncodeToString(sum[:]), m[4], m[3], at); err != nil {
		return err.Error()
	}
	if got, want := r.Header.Get("Authorization"), again.Header.Get("Authorization"); got != want {
		return "signature\n " + got + "\nwant\n " + want
	}
	return ""
}

// stsStandIn is a loopback STS answering AssumeRole as its API reference documents it.
type stsStandIn struct {
	srv   *httptest.Server
	mu    sync.Mutex
	roles []string
}

func newSTS(t *testing.T) *stsStandIn {
	s := &stsStandIn{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if msg := verify(r, body, map[string][2]string{accessKey: {secretKey, ""}}); msg != "" {
			t.Errorf("STS request: %s", msg)
		}
		form, _ := url.ParseQuery(string(body))
		if form.Get("Action") != "AssumeRole" || form.Get("RoleSessionName") != "vane-analysis" {
			t.Errorf("STS request %v", form)
		}
		s.mu.Lock()
		s.roles = append(s.roles, form.Get("RoleArn"))
		s.mu.Unlock()
		w.Header().Set("Content-Type", "text/xml")
		_, _ = io.WriteString(w, `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>
<Credentials><AccessKeyId>`+roleKey+`</AccessKeyId><SecretAccessKey>`+roleSecret+`</SecretAccessKey><SessionToken>`+roleToken+`</SessionToken>
<Expiration>`+time.Now().Add(time.Hour).UTC().Format(time.RFC3339)+`</Expiration></Credentials>
<AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/prometheus-reader/vane-analysis</Arn><AssumedRoleId>AROA:vane-analysis</AssumedRoleId></AssumedRoleUser>
</AssumeRoleResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></AssumeRoleResponse>`)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// TestSigV4 signs a Prometheus query and checks the signature as AWS would: with the
// environment's keys, or with the keys of the role STS gives for roleArn.
func TestSigV4(t *testing.T) {
	stsAPI := newSTS(t)
	var loads []string
	signer := &SigV4{Now: func() time.Time { return signedAt }, LoadConfig: func(_ context.Context, region, profile string) (aws.Config, error) {
		loads = append(loads, region+"/"+profile)
		if region == "" {
			region = "us-east-1" // the environment's
		}
		return aws.Config{Region: region, Credentials: credentials.NewStaticCredentialsProvider(accessKey, secretKey, ""), BaseEndpoint: aws.String(stsAPI.srv.URL)}, nil
	}}
	for name, tc := range map[string]struct {
		cfg        v1alpha1.Sigv4Config
		wantKey    string
		wantRegion string
		wantRoles  int
	}{
		"the environment's keys and region": {cfg: v1alpha1.Sigv4Config{}, wantKey: accessKey, wantRegion: "us-east-1"},
		"a region":                          {cfg: v1alpha1.Sigv4Config{Region: "eu-west-1"}, wantKey: accessKey, wantRegion: "eu-west-1"},
		"a role":                            {cfg: v1alpha1.Sigv4Config{Region: "eu-west-1", RoleARN: "arn:aws:iam::123456789012:role/prometheus-reader"}, wantKey: roleKey, wantRegion: "eu-west-1", wantRoles: 1},
	} {
		t.Run(name, func(t *testing.T) {
			before := len(stsAPI.roles)
			for range 2 { // the second signature reuses the credentials
				body := []byte("query=up&timeout=30s")
				req, _ := http.NewRequest(http.MethodPost, "https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-1/api/v1/query", strings.NewReader(string(body)))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				if err := signer.Sign(context.Background(), tc.cfg, PrometheusService, req, body); err != nil {
					t.Fatal(err)
				}
				m := authorization.FindStringSubmatch(req.Header.Get("Authorization"))
				if m == nil || m[1] != tc.wantKey || m[2] != "20260301" || m[3] != tc.wantRegion || m[4] != "aps" || req.Header.Get("X-Amz-Date") != "20260301T120000Z" {
					t.Fatalf("Authorization %q X-Amz-Date %q", req.Header.Get("Authorization"), req.Header.Get("X-Amz-Date"))
				}
				secrets := map[string][2]string{accessKey: {secretKey, ""}, roleKey: {roleSecret, roleToken}}
				if msg := verify(req, body, secrets); msg != "" {
					t.Error(msg)
				}
				if tc.wantKey == roleKey && req.Header.Get("X-Amz-Security-Token") != roleToken {
					t.Errorf("session token %q", req.Header.Get("X-Amz-Security-Token"))
				}
			}
			if n := len(stsAPI.roles) - before; n != tc.wantRoles {
				t.Errorf("%d AssumeRole calls, want %d", n, tc.wantRoles)
			}
		})
	}
	if len(loads) != 3 {
		t.Errorf("configurations loaded %v, want one per configuration", loads)
	}
}

// TestSigV4Errors checks the errors of a configuration that cannot sign, which name no key.
func TestSigV4Errors(t *testing.T) {
	for name, tc := range map[string]struct {
		cfg     aws.Config
		wantErr string
	}{
		"no region":      {cfg: aws.Config{Credentials: credentials.NewStaticCredentialsProvider(accessKey, secretKey, "")}, wantErr: "authentication.sigv4: no region: set sigv4.region, or AWS_REGION in the controller's environment"},
		"no credentials": {cfg: aws.Config{Region: "eu-west-1"}, wantErr: "authentication.sigv4: no AWS credentials in the controller's environment"},
		"empty credentials": {cfg: aws.Config{Region: "eu-west-1", Credentials: credentials.NewStaticCredentialsProvider("", "", "")},
			wantErr: "authentication.sigv4: no AWS credentials in the controller's environment: "},
	} {
		t.Run(name, func(t *testing.T) {
			signer := &SigV4{LoadConfig: func(context.Context, string, string) (aws.Config, error) { return tc.cfg, nil }}
			req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1/api/v1/query", nil)
			err := signer.Sign(context.Background(), v1alpha1.Sigv4Config{}, PrometheusService, req, nil)
			if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) || strings.Contains(err.Error(), secretKey) || req.Header.Get("Authorization") != "" {
				t.Errorf("error %v, want %q", err, tc.wantErr)
			}
		})
	}
}
