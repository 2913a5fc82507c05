package dashboard

import (
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"k8s.io/client-go/rest"
)

// apiProxy is a loopback TCP proxy in front of the API server that a test can cut and
// restore, so that the API server stops answering one client while the cluster runs on.
type apiProxy struct {
	t      *testing.T
	addr   string // host:port it listens on
	target string

	mu    sync.Mutex
	ln    net.Listener
	conns []net.Conn
}

func newAPIProxy(t *testing.T, apiHost string) *apiProxy {
	u, err := url.Parse(apiHost)
	if err != nil {
		t.Fatal(err)
	}
	p := &apiProxy{t: t, target: u.Host, addr: "127.0.0.1:0"}
	p.up()
	t.Cleanup(p.down)
	return p
}

// up listens (again, on the same address) and forwards every connection.
func (p *apiProxy) up() {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatal(err)
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.forward(c)
		}
	}()
}

func (p *apiProxy) forward(c net.Conn) {
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns = append(p.conns, c, s)
	p.mu.Unlock()
	go func() { _, _ = io.Copy(s, c); s.Close() }()
	_, _ = io.Copy(c, s)
	c.Close()
}

// down stops listening and cuts every forwarded connection.
func (p *apiProxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// unreachablePage opens a page on a dashboard that reaches the API server through a proxy, cuts
// the proxy and expects the page to say that the API server does not answer, then restores it
// and expects the message to go.
func unreachablePage(t *testing.T, env *testEnv, ns string) {
	proxy := newAPIProxy(t, env.Config.Host)
	cfg := rest.CopyConfig(env.Config)
	cfg.Host = "https://" + proxy.addr
	d := startDashboard(t, env, cfg, false, ns)
	ctx := newBrowser(t, 1024, 700)
	do(t, ctx, "opening the list", chromedp.Navigate(d.URL+"/"))
	waitText(t, ctx, "#live", "live", pageWait)
	if eval[bool](t, ctx, `!document.getElementById("cluster").hidden`) {
		t.Fatal("the page says the API server does not answer while it does")
	}
	proxy.down()
	waitText(t, ctx, "#cluster", "The Kubernetes API server does not answer", pageWait)
	waitText(t, ctx, "#cluster", "connection refused", pageWait)
	screenshot(t, ctx, "unreachable")
	proxy.up()
	_, err := chromedp.Run(ctx, chromedp.PollFunction[bool](`() => document.getElementById("cluster").hidden`,
		chromedp.WithPollingTimeout(pageWait), chromedp.WithPollingInterval(50*time.Millisecond)))
	if err != nil {
		t.Fatalf("the message stays after the API server answers again: %v", err)
	}
}
