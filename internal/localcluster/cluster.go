// Package localcluster starts a real Kubernetes control plane on loopback: etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler and kwok (fake nodes whose pods become
// Running and Ready), from binaries built by hack/cluster/install.sh.
//
// Everything listens on 127.0.0.1 on ports chosen at start, so clusters can run side by side,
// and the cluster's addresses stay in loopback ranges: pod IPs from 127.1.0.0/16 and ClusterIPs
// from 127.2.0.0/16.
package localcluster

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/rest"
)

// Address ranges of a local cluster; both are inside 127.0.0.0/8.
const (
	PodCIDR     = "127.1.0.0/16"
	ServiceCIDR = "127.2.0.0/16"
)

// KwokNodeAnnotation marks the nodes that kwok manages.
const KwokNodeAnnotation = "kwok.x-k8s.io/node"

// Binaries the control plane needs in Options.BinDir.
var Binaries = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "kwok-stages.yaml"}

//go:embed pod-stages.yaml
var podStages []byte

// Options configure a local cluster.
type Options struct {
	// BinDir holds the binaries listed in Binaries.
	BinDir string
	// Dir holds the cluster's state: pki/, etcd/, logs/, pids and kubeconfig.
	Dir string
	// Nodes is the number of fake kwok nodes; 0 means 3.
	Nodes int
	// APIServerPort is the apiserver's port on 127.0.0.1; 0 picks a free one.
	APIServerPort int
	// Detached processes get their own session and outlive the caller (cluster-up); attached
	// ones die with it (tests).
	Detached bool
	// Logf reports progress; nil is silent.
	Logf func(format string, args ...any)
	// Timeout bounds the whole start; 0 means two minutes.
	Timeout time.Duration
	// AuditLog, when set, is the file kube-apiserver writes its audit log to: one JSON line
	// per write request (create, update, patch, delete), at level Metadata (who, what, when,
	// the answer's code). Reads are not logged. Empty: no audit log.
	AuditLog string
}

// Cluster is a started control plane.
type Cluster struct {
	// Dir is the state folder; logs are in Dir/logs.
	Dir string
	// Kubeconfig is the path of an admin kubeconfig.
	Kubeconfig string
	// Config is the admin REST config.
	Config *rest.Config

	procs []*process
}

// Start starts a control plane as opts say and waits until it accepts pods. On failure it stops
// whatever it had started and returns an error naming the failed part and its log.
func Start(ctx context.Context, opts Options) (c *Cluster, err error) {
	opts = withDefaults(opts)
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	if err := checkBinaries(opts.BinDir); err != nil {
		return nil, err
	}
	c = &Cluster{Dir: opts.Dir, Kubeconfig: filepath.Join(opts.Dir, "kubeconfig")}
	if err := c.prepareDir(); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			stopAll(c.procs, 10*time.Second)
			err = fmt.Errorf("%w (logs in %s)", err, filepath.Join(c.Dir, "logs"))
		}
	}()
	p, err := loadOrCreatePKI(filepath.Join(c.Dir, "pki"), time.Now())
	if err != nil {
		return c, err
	}
	if err := c.startAPI(ctx, opts, p); err != nil {
		return c, err
	}
	opts.Logf("apiserver ready at %s", c.Config.Host)
	if err := c.startAgents(opts); err != nil {
		return c, err
	}
	if err := c.registerNodes(ctx, opts.Nodes); err != nil {
		return c, err
	}
	opts.Logf("%d kwok node(s) Ready", opts.Nodes)
	if err := c.waitDefaultServiceAccount(ctx); err != nil {
		return c, err
	}
	return c, nil
}

func withDefaults(opts Options) Options {
	if opts.Nodes <= 0 {
		opts.Nodes = 3
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 2 * time.Minute
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	return opts
}

// checkBinaries says which binaries are missing, and how to build them.
func checkBinaries(dir string) error {
	var missing []string
	for _, b := range Binaries {
		if fi, err := os.Stat(filepath.Join(dir, b)); err != nil || fi.Size() == 0 {
			missing = append(missing, b)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("control-plane binaries missing in %s: %s; build them with `make k8s-tools` (hack/cluster/install.sh)",
			dir, strings.Join(missing, ", "))
	}
	return nil
}

// prepareDir refuses a folder whose cluster still runs and clears the previous etcd data and pids.
func (c *Cluster) prepareDir() error {
	running, err := readPids(c.Dir)
	if err != nil {
		return err
	}
	if len(running) > 0 {
		return fmt.Errorf("a cluster already runs from %s (%s pid %d); stop it first (make cluster-down)",
			c.Dir, running[0].name, running[0].pid)
	}
	for _, stale := range []string{"etcd", pidsFile} {
		if err := os.RemoveAll(filepath.Join(c.Dir, stale)); err != nil {
			return fmt.Errorf("clearing %s: %w", stale, err)
		}
	}
	if err := os.MkdirAll(filepath.Join(c.Dir, "logs"), 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", c.Dir, err)
	}
	return nil
}

// start launches one component and remembers it for Stop.
func (c *Cluster) start(opts Options, name string, args ...string) (*process, error) {
	p, err := startProcess(c.Dir, name, filepath.Join(opts.BinDir, name), opts.Detached, args...)
	if p != nil {
		c.procs = append(c.procs, p)
	}
	return p, err
}

// startAPI starts etcd and kube-apiserver and waits for /readyz.
func (c *Cluster) startAPI(ctx context.Context, opts Options, p *pki) error {
	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	etcdClient, etcdPeer, apiPort := ports[0], ports[1], ports[2]
	if opts.APIServerPort != 0 {
		apiPort = opts.APIServerPort
	}
	clientURL := "http://127.0.0.1:" + strconv.Itoa(etcdClient)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(etcdPeer)
	if _, err := c.start(opts, "etcd", "--name=local", "--data-dir="+filepath.Join(c.Dir, "etcd"),
		"--listen-client-urls="+clientURL, "--advertise-client-urls="+clientURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=local="+peerURL, "--unsafe-no-fsync", "--log-level=warn"); err != nil {
		return err
	}
	audit, err := auditFlags(c.Dir, opts.AuditLog)
	if err != nil {
		return err
	}
	api, err := c.start(opts, "kube-apiserver", append([]string{
		"--etcd-servers=" + clientURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--secure-port=" + strconv.Itoa(apiPort),
		"--tls-cert-file=" + p.servingCert, "--tls-private-key-file=" + p.servingKey,
		"--client-ca-file=" + p.caCert,
		"--token-auth-file=" + p.tokens, "--authorization-mode=Node,RBAC",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file=" + p.saKey, "--service-account-signing-key-file=" + p.saKey,
		"--service-cluster-ip-range=" + ServiceCIDR, "--endpoint-reconciler-type=none",
		"--allow-privileged=true", "--profiling=false"}, audit...)...)
	if err != nil {
		return err
	}
	if err := writeKubeconfig(c.Kubeconfig, apiPort, p); err != nil {
		return err
	}
	c.Config = &rest.Config{
		Host:            "https://127.0.0.1:" + strconv.Itoa(apiPort),
		BearerToken:     p.token,
		TLSClientConfig: rest.TLSClientConfig{CAFile: p.caCert},
		QPS:             200,
		Burst:           400,
	}
	return waitReady(ctx, c.Config, api)
}

// startAgents starts the controller-manager, the scheduler and kwok.
func (c *Cluster) startAgents(opts Options) error {
	stages := filepath.Join(c.Dir, "kwok-pod-stages.yaml")
	if err := os.WriteFile(stages, podStages, 0o644); err != nil {
		return fmt.Errorf("writing kwok stages: %w", err)
	}
	pkiDir := filepath.Join(c.Dir, "pki")
	if _, err := c.start(opts, "kube-controller-manager", "--kubeconfig="+c.Kubeconfig,
		"--bind-address=127.0.0.1", "--secure-port=0", "--leader-elect=false",
		"--service-account-private-key-file="+filepath.Join(pkiDir, "sa.key"),
		"--root-ca-file="+filepath.Join(pkiDir, "ca.crt"),
		"--use-service-account-credentials=false", "--profiling=false",
		// client-go's default 20 requests/s makes the controller-manager the bottleneck of any
		// test with many pods: it creates ReplicaSets' pods a few per second
		"--kube-api-qps=1000", "--kube-api-burst=2000"); err != nil {
		return err
	}
	if _, err := c.start(opts, "kube-scheduler", "--kubeconfig="+c.Kubeconfig,
		"--bind-address=127.0.0.1", "--secure-port=0", "--leader-elect=false", "--profiling=false",
		"--kube-api-qps=1000", "--kube-api-burst=2000"); err != nil {
		return err
	}
	_, err := c.start(opts, "kwok", "--kubeconfig="+c.Kubeconfig,
		"--config="+filepath.Join(opts.BinDir, "kwok-stages.yaml"), "--config="+stages,
		"--manage-all-nodes=false", "--manage-nodes-with-annotation-selector="+KwokNodeAnnotation+"=fake",
		"--node-ip=127.0.0.1", "--node-lease-duration-seconds=40", "--cidr="+PodCIDR)
	return err
}

// Stop stops every component, the apiserver before etcd, and reports what it did.
func (c *Cluster) Stop() []string {
	return stopAll(c.procs, 10*time.Second)
}

// StopDir stops a cluster from the pids recorded in dir (one started detached, by another
// process). A folder with no running cluster is not an error.
func StopDir(dir string) ([]string, error) {
	procs, err := readPids(dir)
	if err != nil {
		return nil, err
	}
	report := stopAll(procs, 10*time.Second)
	if err := os.Remove(filepath.Join(dir, pidsFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return report, fmt.Errorf("removing pids file: %w", err)
	}
	return report, nil
}

// freePorts asks the kernel for n distinct free ports on 127.0.0.1.
func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func writeKubeconfig(path string, port int, p *pki) error {
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: vane-local
  cluster:
    server: https://127.0.0.1:%d
    certificate-authority: %s
users:
- name: admin
  user:
    token: %s
contexts:
- name: vane-local
  context: {cluster: vane-local, user: admin, namespace: default}
current-context: vane-local
`, port, p.caCert, p.token)
	if err := os.WriteFile(path, []byte(kc), 0o600); err != nil {
		return fmt.Errorf("writing kubeconfig: %w", err)
	}
	return nil
}
