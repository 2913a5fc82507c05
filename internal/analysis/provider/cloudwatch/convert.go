package cloudwatch

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/vanedev/vane/api/v1alpha1"
)

// convert turns the metric's queries into the SDK's, as Argo does; a period that is not a
// number of seconds is an error naming the query.
func convert(in []v1alpha1.CloudWatchMetricDataQuery) ([]types.MetricDataQuery, error) {
	if len(in) == 0 {
		return nil, fmt.Errorf("cloudWatch.metricDataQueries: give at least one query")
	}
	out := make([]types.MetricDataQuery, len(in))
	for i, q := range in {
		path := fmt.Sprintf("cloudWatch.metricDataQueries[%d]", i)
		mdq := types.MetricDataQuery{Id: aws.String(q.Id), Expression: q.Expression, Label: q.Label, ReturnData: q.ReturnData}
		if q.Period != nil {
			p, err := seconds(*q.Period, path+".period")
			if err != nil {
				return nil, err
			}
			mdq.Period = &p
		}
		if ms := q.MetricStat; ms != nil {
			p, err := seconds(ms.Period, path+".metricStat.period")
			if err != nil {
				return nil, err
			}
			stat := &types.MetricStat{Period: &p, Stat: aws.String(ms.Stat), Unit: types.StandardUnit(ms.Unit),
				Metric: &types.Metric{MetricName: aws.String(ms.Metric.MetricName), Namespace: ms.Metric.Namespace}}
			for _, d := range ms.Metric.Dimensions {
				stat.Metric.Dimensions = append(stat.Metric.Dimensions, types.Dimension{Name: aws.String(d.Name), Value: aws.String(d.Value)})
			}
			mdq.MetricStat = stat
		}
		out[i] = mdq
	}
	return out, nil
}

// seconds reads a period written as a number or a numeric string.
func seconds(v intstr.IntOrString, path string) (int32, error) {
	if v.Type == intstr.Int {
		return v.IntVal, nil
	}
	s := strings.TrimSpace(v.StrVal)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%s %q is not a number of seconds", path, v.StrVal)
	}
	return int32(n), nil
}
