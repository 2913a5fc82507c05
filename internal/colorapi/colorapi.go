// Package colorapi plays the colorapi app of seed 001 (particule/simplecolorapi) on the local
// cluster, whose kwok pods run no containers: an HTTP server bound to a Service's ClusterIP
// (a loopback address, see internal/localcluster) answers each request as one of the ready pods
// the Service selects at that moment would, round robin, with the JSON the real image serves:
//
//	{"color": "red", "status": "ok"}
//
// Versions 1.0, 2.0 and 3.0 answer red, blue and black; 3.0 answers "status": "nok" (the
// release the seed's web analysis must catch). Any other image answers its tag as the color
// and "ok" (colorapi:green answers green), so tests can name colors directly.
//
// `make demo` (hack/demo) uses it for the Service the seed's analysis probes and, with
// -traffic, for the stable and canary Services Traefik sends requests to.
package colorapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Response is what the app answers.
type Response struct {
	Color  string `json:"color"`
	Status string `json:"status"`
}

// versions are the releases of particule/simplecolorapi the seed uses.
var versions = map[string]Response{
	"1.0": {Color: "red", Status: "ok"},
	"2.0": {Color: "blue", Status: "ok"},
	"3.0": {Color: "black", Status: "nok"},
}

// Answer is what a pod running image answers.
func Answer(image string) Response {
	tag := image
	if i := strings.LastIndexByte(image, ':'); i >= 0 && !strings.Contains(image[i:], "/") {
		tag = image[i+1:]
	}
	if r, ok := versions[tag]; ok {
		return r
	}
	return Response{Color: tag, Status: "ok"}
}

// Server plays the pods behind one Service.
type Server struct {
	// Addr is the address it listens on (the Service's ClusterIP and port, or another one).
	Addr string

	c        client.Client
	ns, name string
	srv      *http.Server
	cancel   context.CancelFunc
	done     chan struct{}

	mu   sync.Mutex
	pods []corev1.Pod // the ready pods the Service selects, by name
	next int
}

// ServiceAddr is the address of a Service's first port on its ClusterIP.
func ServiceAddr(svc *corev1.Service) (string, error) {
	if svc.Spec.ClusterIP == "" || svc.Spec.ClusterIP == corev1.ClusterIPNone || len(svc.Spec.Ports) == 0 {
		return "", fmt.Errorf("Service %s/%s has no ClusterIP and port", svc.Namespace, svc.Name)
	}
	return net.JoinHostPort(svc.Spec.ClusterIP, strconv.Itoa(int(svc.Spec.Ports[0].Port))), nil
}

// Serve starts playing the pods of Service ns/name on addr ("" for the Service's ClusterIP and
// first port). It follows the Service's selector and the pods it matches every 50ms, until ctx
// ends or Close is called. With no ready pod selected it answers 503 {"status": "no pods"}.
func Serve(ctx context.Context, c client.Client, ns, name, addr string) (*Server, error) {
	if addr == "" {
		var svc corev1.Service
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &svc); err != nil {
			return nil, fmt.Errorf("reading Service %s/%s: %w", ns, name, err)
		}
		a, err := ServiceAddr(&svc)
		if err != nil {
			return nil, err
		}
		addr = a
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("playing the pods of Service %s/%s on %s: %w", ns, name, addr, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	s := &Server{Addr: ln.Addr().String(), c: c, ns: ns, name: name, cancel: cancel, done: make(chan struct{})}
	s.follow(ctx) // answer right from the start
	s.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(s.answer)}
	go func() { _ = s.srv.Serve(ln) }()
	go func() {
		defer close(s.done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
			s.follow(ctx)
		}
	}()
	return s, nil
}

// Close stops the server.
func (s *Server) Close() {
	s.cancel()
	<-s.done
	_ = s.srv.Close()
}

// Images are the images of the pods the server answers as now, one per pod, sorted.
func (s *Server) Images() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.pods))
	for _, p := range s.pods {
		out = append(out, p.Spec.Containers[0].Image)
	}
	sort.Strings(out)
	return out
}

// follow reads the Service and the ready pods it selects.
func (s *Server) follow(ctx context.Context) {
	pods, err := s.selected(ctx)
	if err != nil {
		return // keep answering as before; the next look may succeed
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pods = pods
}

func (s *Server) selected(ctx context.Context) ([]corev1.Pod, error) {
	var svc corev1.Service
	if err := s.c.Get(ctx, client.ObjectKey{Namespace: s.ns, Name: s.name}, &svc); err != nil {
		return nil, err
	}
	if len(svc.Spec.Selector) == 0 {
		return nil, errors.New("the Service has no selector")
	}
	var list corev1.PodList
	if err := s.c.List(ctx, &list, client.InNamespace(s.ns),
		client.MatchingLabelsSelector{Selector: labels.SelectorFromSet(svc.Spec.Selector)}); err != nil {
		return nil, err
	}
	var ready []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil && len(p.Spec.Containers) > 0 && isReady(&p) {
			ready = append(ready, p)
		}
	}
	sort.Slice(ready, func(i, j int) bool { return ready[i].Name < ready[j].Name })
	return ready, nil
}

func isReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// answer answers as the next pod, round robin.
func (s *Server) answer(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	var image string
	if len(s.pods) > 0 {
		s.next = (s.next + 1) % len(s.pods)
		image = s.pods[s.next].Spec.Containers[0].Image
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if image == "" {
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = json.NewEncoder(w).Encode(Response{Status: "no pods"})
		return
	}
	_ = json.NewEncoder(w).Encode(Answer(image))
}
