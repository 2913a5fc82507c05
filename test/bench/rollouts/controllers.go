package main

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

const (
	// shardWait bounds the wait for every shard Lease to have a holder (-shards K, K>1).
	shardWait = 2 * time.Minute
	// shardLeasePrefix starts the names of the controller's shard Leases, vane-shard-<i>-of-<K>
	// (vane-shard-<instance id>-<i>-of-<K> with --instance-id).
	shardLeasePrefix = "vane-shard-"
	// ctrlProcName names the controller in the CPU figures; with -shards K>1, process i is
	// ctrlProcName#i.
	ctrlProcName = "vane controller"
)

// controllers are the `vane controller` processes: one, or K with -shards K (K>1), each with
// its own metrics port and log. Counters and CPU seconds are summed over them.
type controllers []*controllerProc

// scrape fetches every process' /metrics at once and returns their samples together: every
// figure the report reads is a sum of samples (counters, histogram sums and counts), so the
// concatenation sums it over the processes.
func (cs controllers) scrape(ctx context.Context) (scrape, error) {
	if len(cs) == 1 {
		return scrapeMetrics(ctx, cs[0].metrics)
	}
	parts := make([]scrape, len(cs))
	errs := make([]error, len(cs))
	var wg sync.WaitGroup
	for i, p := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			parts[i], errs[i] = scrapeMetrics(ctx, p.metrics)
		}()
	}
	wg.Wait()
	var out scrape
	for i := range cs {
		if errs[i] != nil {
			return nil, fmt.Errorf("controller process %d: %w", i, errs[i])
		}
		out = append(out, parts[i]...)
	}
	return out, nil
}

// exited returns an error naming the first process that is no longer running, with its log's
// end, or nil.
func (cs controllers) exited() error {
	for i, p := range cs {
		if p.alive() {
			continue
		}
		if len(cs) == 1 {
			return fmt.Errorf("the controller exited; log:\n%s", tail(p.log, 20))
		}
		return fmt.Errorf("controller process %d (pid %d) exited; log %s:\n%s", i, p.pid, p.log, tail(p.log, 20))
	}
	return nil
}

// stop stops every process, all at once.
func (cs controllers) stop() {
	var wg sync.WaitGroup
	for _, p := range cs {
		wg.Add(1)
		go func() { defer wg.Done(); p.stop() }()
	}
	wg.Wait()
}

// resetPeaks starts every process' VmHWM afresh.
func (cs controllers) resetPeaks() {
	for _, p := range cs {
		resetPeak(p.pid)
	}
}

// mem reads each process' memory and returns it with the sum (a process that cannot be read
// counts as zero; err is the first failure).
func (cs controllers) mem() (each []memory, sum memory, err error) {
	for _, p := range cs {
		m, merr := memKB(p.pid)
		if merr != nil && err == nil {
			err = merr
		}
		each = append(each, m)
		sum.hwm += m.hwm
		sum.rss += m.rss
		sum.anon += m.anon
	}
	return each, sum, err
}

// named names the processes for the CPU figures.
func (cs controllers) named() []namedPid {
	if len(cs) == 1 {
		return []namedPid{{ctrlProcName, cs[0].pid}}
	}
	var out []namedPid
	for i, p := range cs {
		out = append(out, namedPid{ctrlProcName + "#" + strconv.Itoa(i), p.pid})
	}
	return out
}

// ctrlCPU is the CPU seconds the controller processes used between two snapshots, in total
// and per process (in process order).
func ctrlCPU(a, b cpuSnapshot, k int) (total float64, each []float64) {
	names := []string{ctrlProcName}
	if k > 1 {
		names = names[:0]
		for i := range k {
			names = append(names, ctrlProcName+"#"+strconv.Itoa(i))
		}
	}
	for _, name := range names {
		d := b.procs[name] - a.procs[name]
		total += d
		each = append(each, d)
	}
	return total, each
}

// ctrlLogPath is process i's log: logs/vane-controller.log alone, logs/vane-controller-<i>.log
// with -shards K>1.
func ctrlLogPath(dir string, i, k int) string {
	if k == 1 {
		return filepath.Join(dir, "logs", "vane-controller.log")
	}
	return filepath.Join(dir, "logs", fmt.Sprintf("vane-controller-%d.log", i))
}

// flagValue is the last value args give a flag under any of names ("--f v" or "--f=v"), or "".
func flagValue(args []string, names ...string) string {
	found := ""
	for i, a := range args {
		for _, n := range names {
			if v, ok := strings.CutPrefix(a, n+"="); ok {
				found = v
			} else if a == n && i+1 < len(args) {
				found = args[i+1]
			}
		}
	}
	return found
}

// shardLeases says where the controller, run with args, keeps its shard Leases: in
// --leader-election-namespace, else -n/--namespace, else "default"; named
// vane-shard-[<--instance-id>-]<i>-of-<K>. It returns the namespace and the names' prefix.
func shardLeases(args []string) (ns, prefix string) {
	ns = flagValue(args, "--leader-election-namespace", "-leader-election-namespace")
	if ns == "" {
		ns = flagValue(args, "-n", "--namespace")
	}
	if ns == "" {
		ns = "default"
	}
	prefix = shardLeasePrefix
	if id := flagValue(args, "--instance-id", "-instance-id"); id != "" {
		prefix += id + "-"
	}
	return ns, prefix
}

// waitShards waits, at most shardWait, until each of the K shard Leases (vane-shard-<i>-of-<K>)
// has a holder and the K processes hold one each, then says how many each holder identity has.
func (b *bench) waitShards(ctx context.Context) error {
	k := b.cfg.shards
	ns, prefix := shardLeases(strings.Fields(b.cfg.ctrlArgs))
	start := time.Now()
	for {
		byHolder, missing, err := shardHolders(ctx, b.c, ns, prefix, k)
		// K processes with K shards: one each, once they have seen each other
		if err == nil && len(missing) == 0 && len(byHolder) == k {
			var parts []string
			for _, h := range slices.Sorted(maps.Keys(byHolder)) {
				parts = append(parts, fmt.Sprintf("%s %d", h, byHolder[h]))
			}
			b.logf("shards: all %d Leases %s<i>-of-%d in %q held after %.1fs; shards by holder: %s",
				k, prefix, k, ns, time.Since(start).Seconds(), strings.Join(parts, ", "))
			return nil
		}
		if xerr := b.ctrls.exited(); xerr != nil {
			return fmt.Errorf("waiting for the %d shards to be held: %w", k, xerr)
		}
		if time.Since(start) > shardWait || ctx.Err() != nil {
			why := fmt.Sprintf("no holder: %s; %d distinct holders", strings.Join(missing, ", "), len(byHolder))
			if err != nil {
				why = err.Error()
			}
			return fmt.Errorf("the %d controller processes do not hold all %d shard Leases in namespace %q after %s (%s); is `vane controller --shards` there? end of process 0's log:\n%s",
				k, k, ns, time.Since(start).Round(time.Second), why, tail(b.ctrls[0].log, 20))
		}
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// shardHolders reads the shard Leases of K shards in ns (prefix<i>-of-<K>) and returns how many each holder
// identity has and the names of those with no holder (or not there yet).
func shardHolders(ctx context.Context, c client.Client, ns, prefix string, k int) (map[string]int, []string, error) {
	var leases coordinationv1.LeaseList
	if err := c.List(ctx, &leases, client.InNamespace(ns)); err != nil {
		return nil, nil, fmt.Errorf("listing Leases in %s: %w", ns, err)
	}
	holder := map[string]string{}
	for _, l := range leases.Items {
		if strings.HasPrefix(l.Name, prefix) && l.Spec.HolderIdentity != nil {
			holder[l.Name] = *l.Spec.HolderIdentity
		}
	}
	byHolder := map[string]int{}
	var missing []string
	for i := range k {
		name := fmt.Sprintf("%s%d-of-%d", prefix, i, k)
		if h := holder[name]; h != "" {
			byHolder[h]++
		} else {
			missing = append(missing, name)
		}
	}
	return byHolder, missing, nil
}
