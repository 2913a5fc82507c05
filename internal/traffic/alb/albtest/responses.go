package albtest

import (
	"encoding/xml"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// The answers, in the shapes of the ELBv2 API reference: <Action>Response holding
// <Action>Result and ResponseMetadata; lists as <member> elements.

type response struct {
	XMLName   xml.Name
	Xmlns     string `xml:"xmlns,attr"`
	Result    any
	RequestID string `xml:"ResponseMetadata>RequestId"`
}

type loadBalancersResult struct {
	XMLName       xml.Name         `xml:"DescribeLoadBalancersResult"`
	LoadBalancers []loadBalancerEl `xml:"LoadBalancers>member"`
	NextMarker    string           `xml:"NextMarker,omitempty"`
}

type loadBalancerEl struct {
	LoadBalancerArn  string
	DNSName          string
	LoadBalancerName string
	Scheme           string
	Type             string
	State            string `xml:"State>Code"`
}

type targetGroupsResult struct {
	XMLName      xml.Name        `xml:"DescribeTargetGroupsResult"`
	TargetGroups []targetGroupEl `xml:"TargetGroups>member"`
}

type targetGroupEl struct {
	TargetGroupArn   string
	TargetGroupName  string
	Protocol         string
	TargetType       string
	LoadBalancerArns []string `xml:"LoadBalancerArns>member"`
}

type tagsResult struct {
	XMLName         xml.Name        `xml:"DescribeTagsResult"`
	TagDescriptions []tagDescriptor `xml:"TagDescriptions>member"`
}

type tagDescriptor struct {
	ResourceArn string
	Tags        []tagEl `xml:"Tags>member"`
}

type tagEl struct{ Key, Value string }

type listenersResult struct {
	XMLName   xml.Name     `xml:"DescribeListenersResult"`
	Listeners []listenerEl `xml:"Listeners>member"`
}

type listenerEl struct {
	ListenerArn     string
	LoadBalancerArn string
	Port            int
	Protocol        string
}

type rulesResult struct {
	XMLName xml.Name `xml:"DescribeRulesResult"`
	Rules   []ruleEl `xml:"Rules>member"`
}

type ruleEl struct {
	RuleArn   string
	Priority  string
	IsDefault bool
	Actions   []actionEl `xml:"Actions>member"`
}

type actionEl struct {
	Type          string
	Order         int
	ForwardConfig *forwardEl `xml:"ForwardConfig,omitempty"`
}

type forwardEl struct {
	TargetGroups []weightedEl `xml:"TargetGroups>member"`
}

type weightedEl struct {
	TargetGroupArn string
	Weight         int32
}

// answer is the result of action with the form's parameters, from the model (e.mu held).
func (e *ELB) answer(action string, form url.Values) (any, error) {
	switch action {
	case "DescribeLoadBalancers":
		return e.loadBalancers(form)
	case "DescribeTargetGroups":
		lb, err := e.byARN(form.Get("LoadBalancerArn"))
		if err != nil {
			return nil, err
		}
		out := targetGroupsResult{}
		for _, tg := range lb.TargetGroups {
			out.TargetGroups = append(out.TargetGroups, targetGroupEl{TargetGroupArn: tg.ARN, TargetGroupName: tg.Name,
				Protocol: "HTTP", TargetType: "ip", LoadBalancerArns: []string{lb.ARN}})
		}
		return out, nil
	case "DescribeTags":
		return e.tags(form)
	case "DescribeListeners":
		lb, err := e.byARN(form.Get("LoadBalancerArn"))
		if err != nil {
			return nil, err
		}
		return listenersResult{Listeners: []listenerEl{{ListenerArn: listenerARN(lb), LoadBalancerArn: lb.ARN, Port: 80, Protocol: "HTTP"}}}, nil
	case "DescribeRules":
		return e.rules(form.Get("ListenerArn"))
	}
	return nil, fmt.Errorf("the verifier has no business calling %s", action)
}

func (e *ELB) loadBalancers(form url.Values) (any, error) {
	size, err := strconv.Atoi(form.Get("PageSize"))
	if err != nil || size < 1 || size > 400 {
		return nil, fmt.Errorf("PageSize %q: want 1 to 400", form.Get("PageSize"))
	}
	from := 0
	if m := form.Get("Marker"); m != "" {
		if from, err = strconv.Atoi(m); err != nil {
			return nil, fmt.Errorf("Marker %q is not one the stand-in gave", m)
		}
	}
	out := loadBalancersResult{}
	for _, lb := range e.lbs[min(from, len(e.lbs)):min(from+size, len(e.lbs))] {
		out.LoadBalancers = append(out.LoadBalancers, loadBalancerEl{LoadBalancerArn: lb.ARN, DNSName: lb.DNSName,
			LoadBalancerName: lb.Name, Scheme: "internet-facing", Type: "application", State: "active"})
	}
	if from+size < len(e.lbs) {
		out.NextMarker = strconv.Itoa(from + size)
	}
	return out, nil
}

func (e *ELB) tags(form url.Values) (any, error) {
	out := tagsResult{}
	for i := 1; ; i++ {
		arn := form.Get(fmt.Sprintf("ResourceArns.member.%d", i))
		if arn == "" {
			if i == 1 || i > 21 {
				return nil, fmt.Errorf("DescribeTags names %d resources; AWS takes 1 to 20", i-1)
			}
			return out, nil
		}
		tg := e.targetGroup(arn)
		if tg == nil {
			return nil, fmt.Errorf("no target group %s", arn)
		}
		d := tagDescriptor{ResourceArn: arn}
		for k, v := range tg.Tags {
			d.Tags = append(d.Tags, tagEl{k, v})
		}
		out.TagDescriptions = append(out.TagDescriptions, d)
	}
}

func (e *ELB) rules(listener string) (any, error) {
	for _, lb := range e.lbs {
		if listenerARN(lb) != listener {
			continue
		}
		fwd := &forwardEl{}
		for _, tg := range lb.TargetGroups {
			fwd.TargetGroups = append(fwd.TargetGroups, weightedEl{TargetGroupArn: tg.ARN, Weight: lb.Forward[tg.ARN]})
		}
		return rulesResult{Rules: []ruleEl{
			{RuleArn: listener + "/9683b2d02a6cabee", Priority: "1", Actions: []actionEl{{Type: "forward", Order: 1, ForwardConfig: fwd}}},
			{RuleArn: listener + "/default", Priority: "default", IsDefault: true, Actions: []actionEl{{Type: "fixed-response", Order: 1}}},
		}}, nil
	}
	return nil, fmt.Errorf("no listener %s", listener)
}

func (e *ELB) byARN(arn string) (LoadBalancer, error) {
	for _, lb := range e.lbs {
		if lb.ARN == arn {
			return lb, nil
		}
	}
	return LoadBalancer{}, fmt.Errorf("no load balancer %q", arn)
}

func (e *ELB) targetGroup(arn string) *TargetGroup {
	for i := range e.lbs {
		for j := range e.lbs[i].TargetGroups {
			if e.lbs[i].TargetGroups[j].ARN == arn {
				return &e.lbs[i].TargetGroups[j]
			}
		}
	}
	return nil
}

// listenerARN is the ARN of a load balancer's one listener.
func listenerARN(lb LoadBalancer) string {
	return strings.Replace(lb.ARN, ":loadbalancer/", ":listener/", 1) + "/f2f7dc8efc522ab2"
}
