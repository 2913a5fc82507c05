package main

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// report prints the results: a table of the phases, the floor ratio, then each phase's details.
func (b *bench) report(phases []*phase, check string, mem memory) {
	pause := "pause{}"
	if b.cfg.pause > 0 {
		pause = fmt.Sprintf("pause %s", b.cfg.pause)
	}
	fmt.Printf("\n== results: %d rollouts x %d replicas, canary setWeight 50 -> %s", b.cfg.n, b.cfg.replicas, pause)
	if b.cfg.floor {
		fmt.Printf("; floor: %d Deployments", b.cfg.n)
	}
	fmt.Printf(" ==\nfinal state: %s\n\n", check)
	fmt.Printf("%-44s %7s %7s %7s %15s %22s %8s %9s  %s\n", "phase", "wall", "per s", "sent in",
		"done p50/p99", "reaction p50/p99/max", "ctrl CPU", "ctrl peak", "load (1 min) start -> end")
	for _, p := range phases {
		cpu, _ := ctrlCPU(p.cpu0, p.cpu1, b.cfg.shards)
		fmt.Printf("%-44s %6.1fs %7.1f %6.1fs %7.1fs %6.1fs %6.2fs %6.2fs %6.2fs %7.1fs %5.0f MiB  %s -> %s\n",
			p.name, p.wall.Seconds(), float64(b.cfg.n)/p.wall.Seconds(), p.issue.Seconds(), pct(p.doneAt, 0.5), pct(p.doneAt, 0.99),
			pct(p.reaction, 0.5), pct(p.reaction, 0.99), pct(p.reaction, 1), cpu,
			float64(p.mem.hwm)/1024, firstField(p.load0), firstField(p.load1))
	}
	if b.cfg.shards > 1 {
		fmt.Printf("(ctrl CPU and ctrl peak: the %d controller processes summed, each process' peak during the phase)\n", b.cfg.shards)
	}
	b.reportFloor(phases)
	b.reportMemory(phases, mem)
	switch {
	case b.cfg.pause > 0 && len(phases) >= 2:
		b.reportUpdate(phases[1], phases[1])
	case len(phases) >= 3:
		b.reportUpdate(phases[1], phases[2])
	}
	for _, p := range phases {
		b.reportPhase(p)
	}
}

// reportMemory prints the controller's peak and current memory (with -shards K>1, summed over
// its processes, and each process' peak).
func (b *bench) reportMemory(phases []*phase, mem memory) {
	var peak int64
	for _, h := range b.peaks {
		peak += h
	}
	if b.cfg.shards == 1 {
		fmt.Printf("\ncontroller memory: peak RSS %.1f MiB (the largest VmHWM of the phases and of the start), now %.1f MiB, of it anonymous (RssAnon) %.1f MiB",
			mib(peak), mib(mem.rss), mib(mem.anon))
	} else {
		var each []string
		for i, h := range b.peaks {
			each = append(each, fmt.Sprintf("#%d %.1f", i, mib(h)))
		}
		fmt.Printf("\ncontroller memory, the %d processes summed: peak RSS %.1f MiB (each process' largest VmHWM of the phases and of the start: %s MiB), now %.1f MiB, of it anonymous (RssAnon) %.1f MiB",
			b.cfg.shards, mib(peak), strings.Join(each, ", "), mib(mem.rss), mib(mem.anon))
	}
	for _, p := range phases {
		fmt.Printf("; after %s %.1f (anonymous %.1f)", strings.Fields(p.name)[0], mib(p.mem.rss), mib(p.mem.anon))
	}
	fmt.Println()
}

func mib(kb int64) float64 { return float64(kb) / 1024 }

// reportFloor compares Vane's update time with the Deployments'.
func (b *bench) reportFloor(phases []*phase) {
	var upd, prom, floor *phase
	for _, p := range phases {
		switch {
		case strings.HasPrefix(p.name, "update"):
			upd = p
		case strings.HasPrefix(p.name, "promote"):
			prom = p
		case strings.HasPrefix(p.name, "floor: update"):
			floor = p
		}
	}
	if upd == nil || floor == nil {
		return
	}
	if prom == nil { // -pause: the update runs to the end by itself
		fmt.Printf("\nfloor: %d Deployments updated in %.1fs; Vane's update (with its %s pause) %.1fs = %.2fx the floor;"+
			" reaction p50/p99: Vane %.2f/%.2fs, the Deployment controller %.2f/%.2fs\n",
			b.cfg.n, floor.wall.Seconds(), b.cfg.pause, upd.wall.Seconds(), upd.wall.Seconds()/floor.wall.Seconds(),
			pct(upd.reaction, 0.5), pct(upd.reaction, 0.99), pct(floor.reaction, 0.5), pct(floor.reaction, 0.99))
		return
	}
	both := upd.wall + prom.wall
	fmt.Printf("\nfloor: %d Deployments updated in %.1fs; Vane's update + promote %.1fs = %.2fx the floor (update alone %.2fx);"+
		" reaction p50/p99: Vane %.2f/%.2fs, the Deployment controller %.2f/%.2fs\n",
		b.cfg.n, floor.wall.Seconds(), both.Seconds(), both.Seconds()/floor.wall.Seconds(), upd.wall.Seconds()/floor.wall.Seconds(),
		pct(upd.reaction, 0.5), pct(upd.reaction, 0.99), pct(floor.reaction, 0.5), pct(floor.reaction, 0.99))
}

// reportUpdate prints the controller's requests per rollout update (update and promote).
func (b *bench) reportUpdate(upd, prom *phase) {
	n := float64(b.cfg.n)
	c := countsBetween(upd.scrapeBase, prom.scrapeEnd)
	fmt.Printf("\nAPI requests per rollout update (the controller's rest_client_requests_total%s from before the update to the final Healthy, / %d): %.1f (%.0f requests)\n",
		b.summed(), b.cfg.n, c.requests/n, c.requests)
	printCounts("  ", c, n, prom.scrapeEnd.has(mRequests, "method"))
	rows, _ := requestsBy(upd.scrapeBase, prom.scrapeEnd, mCtrlRequests, "verb", "kind")
	fmt.Printf("  by verb and kind (per rollout): %s\n", formatRows(rows, n, 12))
}

// reportPhase prints one phase's requests, reconciles, pods and CPU.
func (b *bench) reportPhase(p *phase) {
	n := float64(b.cfg.n)
	fmt.Printf("\n%s (load average at start: %s)\n", p.name, p.load0)
	if p.noReaction > 0 {
		fmt.Printf("  %d objects had no ReplicaSet write by the end of the phase (left out of the reaction times)\n", p.noReaction)
	}
	if p.controllerObserved {
		fmt.Printf("  controller%s: %.0f requests (%.1f per rollout)\n", b.summed(), p.api.requests, p.api.requests/n)
		printCounts("    ", p.api, n, p.scrapeEnd.has(mRequests, "method"))
		rows, _ := requestsBy(p.scrapeBase, p.scrapeEnd, mCtrlRequests, "verb", "kind")
		fmt.Printf("    by verb and kind (per rollout): %s\n", formatRows(rows, n, 12))
		events, _ := requestsBy(p.scrapeBase, p.scrapeEnd, mEvents, "type", "reason")
		fmt.Printf("    events recorded by type and reason (per rollout): %s\n", formatRows(events, n, 14))
		recorded := p.scrapeEnd.sum(mEvents, nil) - p.scrapeBase.sum(mEvents, nil)
		written := p.scrapeEnd.sum(mCtrlRequests, map[string]string{"kind": "events"}) -
			p.scrapeBase.sum(mCtrlRequests, map[string]string{"kind": "events"})
		dropped := p.scrapeEnd.sum(mDropped, nil) - p.scrapeBase.sum(mDropped, nil)
		fmt.Printf("    events: %.0f recorded about Rollouts, %.0f written to the API server (every object's, counts included), %.0f dropped on a full queue (vane_events_dropped_total)\n",
			recorded, written, dropped)
		waited := p.scrapeEnd.sum(mLimiterSum, nil) - p.scrapeBase.sum(mLimiterSum, nil)
		reqs := p.scrapeEnd.sum(mLimiterCount, nil) - p.scrapeBase.sum(mLimiterCount, nil)
		if reqs > 0 {
			fmt.Printf("    client rate limiter: %.1fs waited over %.0f requests (mean %.1f ms)\n", waited, reqs, waited/reqs*1000)
		}
	}
	rows, total := requestsBy(p.apiBase, p.apiEnd, mAPIRequests, "verb", "resource")
	fmt.Printf("  API server, every client (apiserver_request_total, watches left out): %.0f requests (%.1f per object): %s\n",
		total, total/n, formatRows(rows, n, 10))
	if p.podsMade > 0 || p.rsMade > 0 {
		fmt.Printf("  pods created: %d within %.0fs of each other; ReplicaSets created: %d within %.0fs\n",
			p.podsMade, p.podsSpan.Seconds(), p.rsMade, p.rsSpan.Seconds())
	}
	printCPU("  ", p.cpu0, p.cpu1)
	if b.cfg.shards == 1 {
		fmt.Printf("  the controller's /metrics at the end: %d samples, served in %.2fs\n", len(p.scrapeEnd), p.scrapeTook.Seconds())
	} else {
		b.reportProcesses(p)
	}
	if p.profileErr != nil {
		fmt.Printf("  profiles: %v\n", p.profileErr)
	}
}

// summed says, with -shards K>1, that a controller figure is the sum over its processes.
func (b *bench) summed() string {
	if b.cfg.shards == 1 {
		return ""
	}
	return fmt.Sprintf(" (the %d processes summed)", b.cfg.shards)
}

// reportProcesses prints each controller process' CPU and peak memory in a phase (-shards K>1).
func (b *bench) reportProcesses(p *phase) {
	total, each := ctrlCPU(p.cpu0, p.cpu1, b.cfg.shards)
	var cpu, peak []string
	for i, c := range each {
		cpu = append(cpu, fmt.Sprintf("#%d %.1f", i, c))
	}
	for i, m := range p.mems {
		peak = append(peak, fmt.Sprintf("#%d %.1f", i, mib(m.hwm)))
	}
	fmt.Printf("  the %d controller processes: CPU seconds %s (together %.1f); peak RSS in the phase %s MiB (together %.1f MiB)\n",
		b.cfg.shards, strings.Join(cpu, ", "), total, strings.Join(peak, ", "), mib(p.mem.hwm))
	fmt.Printf("  the controllers' /metrics at the end: %d samples together, all served in %.2fs\n", len(p.scrapeEnd), p.scrapeTook.Seconds())
}

func printCounts(indent string, c apiCounts, n float64, haveMethod bool) {
	if haveMethod {
		var parts []string
		for _, k := range c.methodKeys {
			parts = append(parts, fmt.Sprintf("%s %.0f (%.2f)", k, c.byMethod[k], c.byMethod[k]/n))
		}
		fmt.Printf("%sby method (per rollout): %s\n", indent, strings.Join(parts, ", "))
	}
	var parts []string
	for _, k := range c.codeKeys {
		parts = append(parts, fmt.Sprintf("%s %.0f", k, c.byCode[k]))
	}
	fmt.Printf("%sby response code: %s\n", indent, strings.Join(parts, ", "))
	parts = nil
	for _, k := range c.reconcileKeys {
		parts = append(parts, fmt.Sprintf("%s %.0f", k, c.reconciles[k]))
	}
	avgRec, avgQ := 0.0, 0.0
	if c.reconcileN > 0 {
		avgRec = c.reconcileSecs / c.reconcileN * 1000
	}
	if c.queueN > 0 {
		avgQ = c.queueSecs / c.queueN * 1000
	}
	fmt.Printf("%sreconciles: %.0f (%.1f per rollout; %s), errors %.0f, retries %.0f; mean reconcile %.1f ms, mean wait in queue %.1f ms\n",
		indent, c.reconcileN, c.reconcileN/n, strings.Join(parts, ", "), c.reconcileErrors, c.retries, avgRec, avgQ)
}

func printCPU(indent string, a, b cpuSnapshot) {
	secs := b.at.Sub(a.at).Seconds()
	busy := 0.0
	if dt := b.total - a.total; dt > 0 {
		busy = (b.busy - a.busy) / dt * 100
	}
	type row struct {
		name string
		cpu  float64
	}
	var rows []row
	for name, v := range b.procs {
		rows = append(rows, row{name, v - a.procs[name]})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].cpu > rows[j].cpu })
	var parts []string
	followed := 0.0
	for _, r := range rows {
		parts = append(parts, fmt.Sprintf("%s %.1f", r.name, r.cpu))
		followed += r.cpu
	}
	// whatever else ran on the machine meanwhile (other builds or tests skew the figures)
	others := max((b.busy-a.busy)/clockTicks-followed, 0)
	fmt.Printf("%smachine CPU busy %.0f%% over %.1fs; CPU seconds: %s, other processes %.1f\n",
		indent, busy, secs, strings.Join(parts, ", "), others)
}

// pct returns the q-quantile of sorted durations, in seconds.
func pct(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	i = min(max(i, 0), len(sorted)-1)
	return sorted[i].Seconds()
}

func firstField(s string) string {
	if f := strings.Fields(s); len(f) > 0 {
		return f[0]
	}
	return "?"
}
