package router

import (
	flaggerv1 "github.com/vanedev/vane/api/flagger/v1beta1"
)

// strMatch is a header, query-parameter or URI match of a Canary: spec.service.match's
// StringMatch or analysis.match's HeaderMatch (which can also match a suffix).
type strMatch struct {
	Exact  string `json:"exact,omitempty"`
	Prefix string `json:"prefix,omitempty"`
	Suffix string `json:"suffix,omitempty"`
	Regex  string `json:"regex,omitempty"`
}

func stringMatches(m map[string]flaggerv1.StringMatch) map[string]strMatch {
	if m == nil {
		return nil
	}
	out := make(map[string]strMatch, len(m))
	for k, v := range m {
		out[k] = strMatch{Exact: v.Exact, Prefix: v.Prefix, Regex: v.Regex}
	}
	return out
}

func headerMatches(m map[string]flaggerv1.HeaderMatch) map[string]strMatch {
	if m == nil {
		return nil
	}
	out := make(map[string]strMatch, len(m))
	for k, v := range m {
		out[k] = strMatch(v)
	}
	return out
}

// exactOrRegex returns the value of an exact match (exact true) or of a regex match, what
// Gateway API and ingress-nginx (who) can match; anything else is an error naming field.
func (s strMatch) exactOrRegex(cd *flaggerv1.Canary, field, who string) (exact bool, value string, err error) {
	switch {
	case s.Exact != "":
		return true, s.Exact, nil
	case s.Regex != "":
		return false, s.Regex, nil
	case s.Prefix != "":
		return false, "", unsupportedf(cd, field+".prefix", "%s matches exactly or by regex only, not by prefix", who)
	case s.Suffix != "":
		return false, "", unsupportedf(cd, field+".suffix", "%s matches exactly or by regex only, not by suffix", who)
	}
	return false, "", invalidf(cd, field, "sets none of exact and regex")
}
