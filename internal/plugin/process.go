package plugin

import (
	"context"
	"crypto/sha256"
	"encoding/gob"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/rpc"
	"os"
	"os/exec"
	"reflect"
	"strings"

	"github.com/go-logr/logr"
	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"sigs.k8s.io/controller-runtime/pkg/log"
)

// Handshake is what Argo Rollouts and its plugins agree on before talking: the magic cookie's
// key (its value is the kind's: "metricprovider", "trafficrouter" or "step") and the protocol
// version.
const (
	MagicCookieKey  = "ARGO_ROLLOUTS_RPC_PLUGIN"
	ProtocolVersion = 1
)

// RPCError is an error a plugin returns as a value (Argo's types.RpcError): an empty
// ErrorString is no error.
type RPCError struct {
	ErrorString string
}

func init() {
	gob.RegisterName("RpcError", new(RPCError)) // as Argo Rollouts registers it
}

// Error returns the plugin's text.
func (e RPCError) Error() string { return e.ErrorString }

// HasError reports whether the plugin returned an error.
func (e RPCError) HasError() bool { return e.ErrorString != "" }

// rawPlugin hands out the plugin's net/rpc client as it is; the sub-packages speak the kinds'
// interfaces over it.
type rawPlugin struct{}

// Server is never used: Vane serves no plugins.
func (rawPlugin) Server(*goplugin.MuxBroker) (any, error) {
	return nil, errors.New("vane does not serve plugins")
}

// Client returns the net/rpc client of the dispensed plugin.
func (rawPlugin) Client(_ *goplugin.MuxBroker, c *rpc.Client) (any, error) { return c, nil }

// Call calls method ("Plugin.Run", ...) of the plugin with args (sent as an interface value, as
// Argo Rollouts does; nil for none) and decodes the answer into reply, a pointer. The plugin is
// started first if it is not running; when its connection breaks (the process crashed), it is
// started again and the call made once more. Errors from the plugin manager are *Error.
func (m *Manager) Call(ctx context.Context, kind Kind, name, method string, args, reply any) error {
	for attempt := 0; ; attempt++ {
		c, err := m.client(ctx, kind, name)
		if err != nil {
			return err
		}
		err = m.call(ctx, c, method, args, reply)
		var se rpc.ServerError
		if err == nil || errors.As(err, &se) || ctx.Err() != nil || attempt > 0 {
			return err
		}
		log.FromContext(ctx).Info("plugin connection lost; starting the plugin again", "kind", kind, "plugin", name, "call", method, "error", err.Error())
		m.drop(kind, name, c)
	}
}

// call makes one RPC call, bounded by ctx (or CallTimeout). The answer is decoded into a fresh
// value and copied to reply only once complete, so that a call abandoned at its deadline
// cannot write into reply later.
func (m *Manager) call(ctx context.Context, c *rpc.Client, method string, args, reply any) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, m.opts.CallTimeout)
		defer cancel()
	}
	rv := reflect.ValueOf(reply)
	fresh := reflect.New(rv.Type().Elem())
	done := c.Go(method, &args, fresh.Interface(), make(chan *rpc.Call, 1)).Done
	select {
	case call := <-done:
		if call.Error != nil {
			return call.Error
		}
		rv.Elem().Set(fresh.Elem())
		return nil
	case <-ctx.Done():
		return fmt.Errorf("no answer from the plugin: %w", ctx.Err())
	}
}

// client returns the plugin's RPC client, starting its process when it is not running.
func (m *Manager) client(ctx context.Context, kind Kind, name string) (*rpc.Client, error) {
	e, err := m.lookup(ctx, kind, name)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.rpc != nil && !e.proc.Exited() {
		return e.rpc, nil
	}
	if e.proc != nil {
		log.FromContext(ctx).Info("plugin process exited; starting it again", "kind", kind, "plugin", name, "starts", e.starts)
		e.stop()
	}
	if err := m.start(ctx, e); err != nil {
		permanent := errors.Is(err, goplugin.ErrChecksumsDoNotMatch)
		if permanent {
			e.err = fmt.Errorf("the binary %s changed after it was verified: %w", e.path, goplugin.ErrChecksumsDoNotMatch)
			err = fmt.Errorf("unusable (fix the ConfigMap entry and restart the controller): %w", e.err)
		}
		return nil, &Error{Kind: kind, Name: name, Permanent: permanent, Err: err}
	}
	return e.rpc, nil
}

// drop stops the plugin's process if c is still its client (a later call starts it again).
func (m *Manager) drop(kind Kind, name string, c *rpc.Client) {
	m.loadMu.Lock()
	e := m.entries[key{kind, name}]
	m.loadMu.Unlock()
	if e == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.rpc == c {
		e.stop()
	}
}

// start runs the plugin's binary (checking its checksum), does the handshake, dispenses the
// kind's RPC server and calls InitPlugin. Called with e.mu held.
func (m *Manager) start(ctx context.Context, e *entry) (err error) {
	info := kinds[e.item.Kind]
	sum, _ := hex.DecodeString(e.sum)
	cmd := exec.Command(e.path, e.item.Args...)
	cmd.Env = append(os.Environ(), m.opts.Env...) // ours last: they win
	pc := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig: goplugin.HandshakeConfig{ProtocolVersion: ProtocolVersion,
			MagicCookieKey: MagicCookieKey, MagicCookieValue: info.cookie},
		Plugins:          goplugin.PluginSet{info.dispense: rawPlugin{}},
		Cmd:              cmd,
		SkipHostEnv:      true,
		SecureConfig:     &goplugin.SecureConfig{Checksum: sum, Hash: sha256.New()},
		StartTimeout:     m.opts.StartTimeout,
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolNetRPC},
		Logger:           hclogFor(m.baseLogger().WithValues("kind", e.item.Kind, "plugin", e.item.Name)),
	})
	defer func() {
		if err != nil {
			pc.Kill()
		}
	}()
	proto, err := pc.Client()
	if err != nil {
		if errors.Is(err, goplugin.ErrChecksumsDoNotMatch) {
			return err
		}
		return fmt.Errorf("starting %s: %s", e.path, strings.Join(strings.Fields(err.Error()), " ")) // go-plugin's text has line breaks
	}
	raw, err := proto.Dispense(info.dispense)
	if err != nil {
		return fmt.Errorf("the process does not serve %s: %w", info.dispense, err)
	}
	c, ok := raw.(*rpc.Client)
	if !ok {
		return fmt.Errorf("the process does not serve %s over net/rpc", info.dispense)
	}
	var resp RPCError
	if err := m.call(ctx, c, "Plugin.InitPlugin", nil, &resp); err != nil {
		return fmt.Errorf("InitPlugin rpc call error: %w", err)
	}
	if resp.HasError() {
		return fmt.Errorf("InitPlugin: %s", resp.ErrorString)
	}
	e.proc, e.rpc = pc, c
	e.starts++
	log.FromContext(ctx).Info("plugin started", "kind", e.item.Kind, "plugin", e.item.Name, "starts", e.starts)
	return nil
}

// baseLogger is the logger plugin processes write into.
func (m *Manager) baseLogger() logr.Logger {
	m.loadMu.Lock()
	defer m.loadMu.Unlock()
	if m.logger == nil {
		return log.Log.WithName("plugins")
	}
	return *m.logger
}

// stop kills the process, if any. Called with e.mu held.
func (e *entry) stop() {
	if e.proc != nil {
		e.proc.Kill()
	}
	e.proc, e.rpc = nil, nil
}

// PID returns the process id of the plugin's running process (0: none). Tests use it to
// crash a plugin.
func (m *Manager) PID(kind Kind, name string) int {
	m.loadMu.Lock()
	e := m.entries[key{kind, name}]
	m.loadMu.Unlock()
	if e == nil {
		return 0
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.proc == nil || e.proc.Exited() {
		return 0
	}
	if rc := e.proc.ReattachConfig(); rc != nil {
		return rc.Pid
	}
	return 0
}

// hclogFor returns a go-plugin logger that writes into l: the plugin's stderr lines and
// go-plugin's own messages, warnings and errors at V(0), the rest at V(1).
func hclogFor(l logr.Logger) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: "plugin", Level: hclog.Debug, Output: logWriter{l}, DisableTime: true})
}

// logWriter turns hclog's lines into log entries.
type logWriter struct{ l logr.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		if strings.HasPrefix(line, "[ERROR]") || strings.HasPrefix(line, "[WARN]") {
			w.l.Info(line)
		} else {
			w.l.V(1).Info(line)
		}
	}
	return len(p), nil
}

var _ io.Writer = logWriter{}
