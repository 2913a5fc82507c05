// Package albtest is a loopback stand-in for the AWS Elastic Load Balancing v2 API, for the
// target group verification of the ALB router: it answers the Query-protocol calls that
// alb.AWSVerifier makes (DescribeLoadBalancers, DescribeTargetGroups, DescribeTags,
// DescribeListeners, DescribeRules) with XML in the shapes of the API reference's examples,
// from a model of load balancers the test sets (and changes, to play the AWS Load Balancer
// Controller catching up), and checks that each request is what AWS needs: a POST of a form
// with the action and API version 2015-12-01, signed with SigV4 for elasticloadbalancing.
package albtest

import (
	"context"
	"encoding/xml"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"

	"github.com/vanedev/vane/internal/traffic/alb"
)

// Region is the region the stand-in's clients sign for.
const Region = "eu-west-1"

// signature is a SigV4 Authorization header for elasticloadbalancing in Region with the test
// access key.
var signature = regexp.MustCompile(`^AWS4-HMAC-SHA256 Credential=AKIDVANEALB/\d{8}/` + Region +
	`/elasticloadbalancing/aws4_request, SignedHeaders=[a-z0-9;-]*host;[a-z0-9;-]*x-amz-date[a-z0-9;-]*, Signature=[0-9a-f]{64}$`)

// LoadBalancer is a load balancer of the model: its target groups and listener rules.
type LoadBalancer struct {
	Name, ARN, DNSName string
	TargetGroups       []TargetGroup
	// Forward is the listener's rule: the weight it forwards to each target group (by ARN).
	Forward map[string]int32
}

// TargetGroup is a target group of the model.
type TargetGroup struct {
	Name, ARN string
	Tags      map[string]string
}

// ELB is the stand-in.
type ELB struct {
	t   testing.TB
	srv *httptest.Server
	mu  sync.Mutex
	lbs []LoadBalancer
	// calls are the actions called, in order
	calls []string
	// fail makes every call of an action answer this AWS error code
	fail map[string]string
}

// Start serves lbs on loopback until the test ends.
func Start(t testing.TB, lbs ...LoadBalancer) *ELB {
	e := &ELB{t: t, fail: map[string]string{}}
	for _, lb := range lbs { // the stand-in's own copy: SetWeights changes only it
		lb.Forward = maps.Clone(lb.Forward)
		e.lbs = append(e.lbs, lb)
	}
	e.srv = httptest.NewServer(http.HandlerFunc(e.serve))
	t.Cleanup(e.srv.Close)
	return e
}

// ForIngress is the load balancer the AWS Load Balancer Controller makes for an Ingress
// ns/ingress routing to services at port: one target group per Service, tagged with the
// resource id ("<ns>/<ingress>-<service>:<port>"), forwarded weights (by Service).
func ForIngress(ns, ingress string, port int32, weights map[string]int32, services ...string) LoadBalancer {
	name := "k8s-" + ns + "-" + ingress
	lb := LoadBalancer{Name: name, ARN: "arn:aws:elasticloadbalancing:" + Region + ":123456789012:loadbalancer/app/" + name + "/50dc6c495c0c9188",
		DNSName: name + "-424835706." + Region + ".elb.amazonaws.com", Forward: map[string]int32{}}
	for i, svc := range services {
		tg := TargetGroup{Name: fmt.Sprintf("k8s-%s-%s-%d", ns, svc, i),
			ARN:  fmt.Sprintf("arn:aws:elasticloadbalancing:%s:123456789012:targetgroup/k8s-%s-%s/73e2d6bc24d8a06%d", Region, ns, svc, i),
			Tags: map[string]string{alb.DefaultResourceIDTag: fmt.Sprintf("%s/%s-%s:%d", ns, ingress, svc, port), "elbv2.k8s.aws/cluster": "vane"}}
		lb.TargetGroups = append(lb.TargetGroups, tg)
		lb.Forward[tg.ARN] = weights[svc]
	}
	return lb
}

// SetWeights changes the weights the listener of the load balancer dnsName forwards, by the
// Service each target group's resource id names.
func (e *ELB) SetWeights(dnsName string, weights map[string]int32) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := range e.lbs {
		lb := &e.lbs[i]
		if lb.DNSName != dnsName {
			continue
		}
		for _, tg := range lb.TargetGroups {
			for svc, w := range weights {
				if id, _, _ := strings.Cut(tg.Tags[alb.DefaultResourceIDTag], ":"); strings.HasSuffix(id, "-"+svc) {
					lb.Forward[tg.ARN] = w
				}
			}
		}
	}
}

// Fail makes every later call of action answer the AWS error code (empty: answer again).
func (e *ELB) Fail(action, code string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.fail[action] = code
}

// Calls are the actions called so far, in order.
func (e *ELB) Calls() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.calls)
}

// Verifier is an alb.AWSVerifier whose SDK client calls the stand-in, with static
// credentials in Region.
func (e *ELB) Verifier(t testing.TB) *alb.AWSVerifier {
	v, err := alb.LoadAWSVerifier(context.Background(), alb.AWSOptions{
		LoadConfig: func(context.Context) (aws.Config, error) {
			return aws.Config{Region: Region, Credentials: credentials.NewStaticCredentialsProvider("AKIDVANEALB", "s3cr3t-alb-key", ""),
				RetryMaxAttempts: 1}, nil
		},
		ClientOptions: []func(*elbv2.Options){func(o *elbv2.Options) { o.BaseEndpoint = aws.String(e.srv.URL) }},
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (e *ELB) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/" || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		e.t.Errorf("ELBv2 stand-in: request %s %s (Content-Type %q); the Query API takes a POST of a form to /", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
	}
	if a := r.Header.Get("Authorization"); !signature.MatchString(a) || r.Header.Get("X-Amz-Date") == "" {
		e.t.Errorf("ELBv2 stand-in: request not signed for elasticloadbalancing in %s: %q", Region, a)
	}
	if err := r.ParseForm(); err != nil {
		e.t.Errorf("ELBv2 stand-in: reading the form: %v", err)
	}
	action := r.PostForm.Get("Action")
	if v := r.PostForm.Get("Version"); v != "2015-12-01" {
		e.t.Errorf("ELBv2 stand-in: %s with API version %q, want 2015-12-01", action, v)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls = append(e.calls, action)
	if code := e.fail[action]; code != "" {
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `<ErrorResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"><Error><Type>Sender</Type>`+
			`<Code>%s</Code><Message>stand-in failure of %s</Message></Error><RequestId>req-%d</RequestId></ErrorResponse>`, code, action, len(e.calls))
		return
	}
	result, err := e.answer(action, r.PostForm)
	if err != nil {
		e.t.Errorf("ELBv2 stand-in: %s: %v", action, err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	body, err := xml.Marshal(response{XMLName: xml.Name{Local: action + "Response"}, Xmlns: "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/",
		Result: result, RequestID: "req-" + strconv.Itoa(len(e.calls))})
	if err != nil {
		e.t.Errorf("ELBv2 stand-in: encoding %s: %v", action, err)
	}
	w.Header().Set("Content-Type", "text/xml")
	_, _ = w.Write(append([]byte(xml.Header), body...))
}
