package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// profiler fetches the controller's pprof profiles into a folder.
type profiler struct {
	base string // http://host:port/debug/pprof
	dir  string
	secs int // length of each phase's CPU profile
}

// phaseFile is a profile's file name: the phase's first word and the profile's kind.
func (p *profiler) phaseFile(phase, kind string) string {
	return filepath.Join(p.dir, strings.Fields(phase)[0]+"."+kind+".pprof")
}

// cpu profiles the controller's CPU for p.secs from now, in the background; the returned
// channel gives the result once it is written.
func (p *profiler) cpu(ctx context.Context, phase string) <-chan error {
	done := make(chan error, 1)
	go func() {
		done <- p.fetch(ctx, fmt.Sprintf("%s/profile?seconds=%d", p.base, p.secs), p.phaseFile(phase, "cpu"),
			time.Duration(p.secs+30)*time.Second)
	}()
	return done
}

// heap saves the controller's heap profile (after a collection: the live heap, and the
// allocations since start).
func (p *profiler) heap(ctx context.Context, phase string) error {
	return p.fetch(ctx, p.base+"/heap?gc=1", p.phaseFile(phase, "heap"), 30*time.Second)
}

func (p *profiler) fetch(ctx context.Context, url, path string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.Close()
}
