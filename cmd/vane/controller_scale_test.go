package main

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"
)

func TestScaleFlags(t *testing.T) {
	def := workerCounts{defaultWorkers, defaultWorkers, defaultWorkers}
	tests := map[string]struct {
		args      []string
		want      workerCounts
		wantQPS   float32
		wantBurst int
		wantPprof string
		wantErr   string
	}{
		"defaults": {want: def, wantQPS: defaultQPS, wantBurst: defaultBurst},
		"--workers sizes every kind": {args: []string{"--workers=16"}, want: workerCounts{16, 16, 16},
			wantQPS: defaultQPS, wantBurst: defaultBurst},
		"Argo's names per kind": {args: []string{"--workers=2", "--rollout-threads=10", "--analysis-threads=30"},
			want: workerCounts{10, 30, 2}, wantQPS: defaultQPS, wantBurst: defaultBurst},
		"Argo's client names": {args: []string{"--qps=40", "--burst=80"}, want: def,
			wantQPS: 40, wantBurst: 80},
		"Vane's client names": {args: []string{"--kube-api-qps=500", "--kube-api-burst=1000"},
			want: def, wantQPS: 500, wantBurst: 1000},
		"negative threads": {args: []string{"--rollout-threads=-1"}, wantErr: "--rollout-threads: -1 is negative"},
		"no workers":       {args: []string{"--workers=0"}, wantErr: "--workers: 0 reconciles nothing"},
		"qps of zero":      {args: []string{"--kube-api-qps=0"}, want: def, wantErr: "--kube-api-qps: 0 is not positive"},
		"burst below one":  {args: []string{"--burst=0"}, want: def, wantErr: "--kube-api-burst: 0 is less than 1"},
		"pprof, Argo's name": {args: []string{"--enable-pprof-address=127.0.0.1:6060"}, want: def,
			wantQPS: defaultQPS, wantBurst: defaultBurst, wantPprof: "127.0.0.1:6060"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := &controllerFlags{}
			fl := pflag.NewFlagSet("test", pflag.ContinueOnError)
			addScaleFlags(fl, f)
			if err := fl.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			got, err := f.threads.resolve()
			cfg := &rest.Config{}
			if err == nil {
				err = f.client.apply(cfg)
			}
			if err != nil || tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if d := cmp.Diff(tc.want, got, cmp.AllowUnexported(workerCounts{})); d != "" {
				t.Errorf("workers (-want +got):\n%s", d)
			}
			if f.pprofAddr != tc.wantPprof {
				t.Errorf("pprof address %q, want %q", f.pprofAddr, tc.wantPprof)
			}
			if cfg.QPS != tc.wantQPS || cfg.Burst != tc.wantBurst {
				t.Errorf("client QPS %g burst %d, want %g and %d", cfg.QPS, cfg.Burst, tc.wantQPS, tc.wantBurst)
			}
		})
	}
}

func TestShardFlags(t *testing.T) {
	tests := map[string]struct {
		args        []string
		leaderElect bool
		pod         string
		want        int
		wantID      string // "" or a prefix of the identity
		wantErr     string
	}{
		"no sharding by default": {},
		"shards":                 {args: []string{"--shards=4"}, want: 4},
		"identity given":         {args: []string{"--shards=2", "--shard-identity=replica-a"}, want: 2, wantID: "replica-a"},
		"identity from POD_NAME": {args: []string{"--shards=2"}, pod: "vane-7d9f-x2", want: 2, wantID: "vane-7d9f-x2_"},
		"negative":               {args: []string{"--shards=-1"}, wantErr: "--shards: -1 is negative"},
		"with leader election": {args: []string{"--shards=2"}, leaderElect: true,
			wantErr: "--shards and --leader-elect: each shard has its own Lease and every replica acts on its own shards; leave --leader-elect out"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Setenv("POD_NAME", tc.pod)
			f := &controllerFlags{}
			fl := pflag.NewFlagSet("test", pflag.ContinueOnError)
			addScaleFlags(fl, f)
			if err := fl.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			got, err := f.shards.check(tc.leaderElect)
			if err != nil || tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if got.n != tc.want || !strings.HasPrefix(got.identity, tc.wantID) || (tc.wantID == "" && got.identity != "") {
				t.Errorf("shards %d identity %q, want %d and an identity starting %q", got.n, got.identity, tc.want, tc.wantID)
			}
		})
	}
}
