package alb

import (
	"slices"
	"sort"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/traffic/common"
)

// ingressSpec is the part of an Ingress's spec the router reads and edits: the paths of its
// rules (a header route adds a path to its action). Every other member is kept as read.
type ingressSpec struct {
	Rules  []rule        `json:"rules,omitzero"`
	Fields common.Fields `json:"-"`
}

type rule struct {
	HTTP   *httpRule     `json:"http,omitzero"`
	Fields common.Fields `json:"-"`
}

type httpRule struct {
	Paths  []path        `json:"paths"`
	Fields common.Fields `json:"-"`
}

type path struct {
	Path     string        `json:"path,omitzero"`
	PathType string        `json:"pathType,omitzero"`
	Backend  backend       `json:"backend"`
	Fields   common.Fields `json:"-"`
}

type backend struct {
	Service *serviceBackend `json:"service,omitzero"`
	Fields  common.Fields   `json:"-"`
}

type serviceBackend struct {
	Name   string        `json:"name"`
	Port   servicePort   `json:"port"`
	Fields common.Fields `json:"-"`
}

type servicePort struct {
	Name   string        `json:"name,omitzero"`
	Number int32         `json:"number,omitzero"`
	Fields common.Fields `json:"-"`
}

// useAnnotation is the port name that tells the AWS Load Balancer Controller to read the
// path's action from the actions.<service> annotation.
const useAnnotation = "use-annotation"

// serviceOf is the Service a path's backend names ("" for a resource backend).
func serviceOf(p path) string {
	if p.Backend.Service == nil {
		return ""
	}
	return p.Backend.Service.Name
}

// hasService reports whether a path of some rule goes to the Service (or action) name.
func (s *ingressSpec) hasService(name string) bool {
	for _, r := range s.Rules {
		if r.HTTP == nil {
			continue
		}
		if slices.ContainsFunc(r.HTTP.Paths, func(p path) bool { return serviceOf(p) == name }) {
			return true
		}
	}
	return false
}

// addActionPath puts a path "/*" to the action name first in every rule with paths, unless a
// rule already has one (as Argo does for a header route).
func (s *ingressSpec) addActionPath(name string) {
	if s.hasService(name) {
		return
	}
	for i := range s.Rules {
		r := s.Rules[i].HTTP
		if r == nil {
			continue
		}
		p := path{Path: "/*", PathType: "ImplementationSpecific",
			Backend: backend{Service: &serviceBackend{Name: name, Port: servicePort{Name: useAnnotation}}}}
		r.Paths = append([]path{p}, r.Paths...)
	}
}

// removeActionPath takes out of every rule the first path to the action name.
func (s *ingressSpec) removeActionPath(name string) {
	for i := range s.Rules {
		r := s.Rules[i].HTTP
		if r == nil {
			continue
		}
		if j := slices.IndexFunc(r.Paths, func(p path) bool { return serviceOf(p) == name }); j >= 0 {
			r.Paths = slices.Delete(slices.Clone(r.Paths), j, j+1)
		}
	}
}

// sortPaths orders each rule's paths: those to managed routes first, in the order of
// managedRoutes (their precedence), then the others as they were.
func (s *ingressSpec) sortPaths(routes []v1alpha1.MangedRoutes) {
	rank := map[string]int{}
	for i, r := range routes {
		rank[r.Name] = i
	}
	of := func(p path) int {
		if i, ok := rank[serviceOf(p)]; ok {
			return i
		}
		return len(routes)
	}
	for i := range s.Rules {
		r := s.Rules[i].HTTP
		if r == nil {
			continue
		}
		sort.SliceStable(r.Paths, func(a, b int) bool { return of(r.Paths[a]) < of(r.Paths[b]) })
	}
}
