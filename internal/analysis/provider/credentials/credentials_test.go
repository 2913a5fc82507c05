package credentials

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

// TestStore checks the lookups and their messages, which name the Secret and the keys but
// never a value.
func TestStore(t *testing.T) {
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "argo-rollouts", Name: "influxdb"},
		Data: map[string][]byte{"address": []byte("http://influx:8086"), "authToken": []byte("t0ken"), "org": {}}}
	store := Store{Reader: fake.NewClientBuilder().WithObjects(sec).Build(), Namespace: "argo-rollouts"}
	for name, tc := range map[string]struct {
		namespace, name string
		require         []string
		wantErr         string
	}{
		"all keys":          {namespace: "argo-rollouts", name: "influxdb", require: []string{"address", "authToken"}},
		"an empty key":      {namespace: "argo-rollouts", name: "influxdb", require: []string{"authToken", "org", "bucket"}, wantErr: `the Secret argo-rollouts/influxdb has no "bucket", "org"`},
		"no such Secret":    {namespace: "argo-rollouts", name: "newrelic", wantErr: "the Secret argo-rollouts/newrelic does not exist"},
		"another namespace": {namespace: "shop", name: "influxdb", wantErr: "the Secret shop/influxdb does not exist"},
	} {
		t.Run(name, func(t *testing.T) {
			s, err := store.Get(context.Background(), tc.namespace, tc.name)
			if err == nil {
				err = s.Require(tc.require...)
			}
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.wantErr {
				t.Errorf("error %q, want %q", got, tc.wantErr)
			}
		})
	}
}

// TestControllerNamespace checks the order Argo Rollouts uses: $POD_NAMESPACE first.
func TestControllerNamespace(t *testing.T) {
	t.Setenv("POD_NAMESPACE", "rollouts-system")
	for name, tc := range map[string]struct {
		store Store
		want  string
	}{
		"from the environment": {want: "rollouts-system"},
		"given":                {store: Store{Namespace: "vane"}, want: "vane"},
	} {
		t.Run(name, func(t *testing.T) {
			if got := tc.store.ControllerNamespace(); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
