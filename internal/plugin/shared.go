package plugin

import (
	"fmt"
	"sync"

	"sigs.k8s.io/controller-runtime/pkg/manager"
)

var (
	sharedMu sync.Mutex
	shared   = map[manager.Manager]*Manager{}
)

// ForManager returns the plugin Manager the controllers of mgr share (the AnalysisRun
// controller's metric plugins, the rollout controller's traffic router and step plugins),
// adding it to mgr on first use: it loads the plugins of the controller namespace's
// ConfigMap when mgr starts, and stops their processes when mgr stops.
func ForManager(mgr manager.Manager) (*Manager, error) {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if pm, ok := shared[mgr]; ok {
		return pm, nil
	}
	pm := NewManager(mgr.GetAPIReader(), Options{})
	if err := mgr.Add(pm); err != nil {
		return nil, fmt.Errorf("adding the plugin manager to the controller manager: %w", err)
	}
	shared[mgr] = pm
	return pm, nil
}
