package chaos

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"testing"
	"time"
)

// auditEvent is the part of one line of the API server's audit log the tests read.
type auditEvent struct {
	Verb string `json:"verb"`
	User struct {
		Username string `json:"username"`
	} `json:"user"`
	ImpersonatedUser *struct {
		Username string `json:"username"`
	} `json:"impersonatedUser"`
	ObjectRef *struct {
		Resource    string `json:"resource"`
		Namespace   string `json:"namespace"`
		Name        string `json:"name"`
		Subresource string `json:"subresource"`
	} `json:"objectRef"`
	ResponseStatus *struct {
		Code int `json:"code"`
	} `json:"responseStatus"`
	Received time.Time `json:"requestReceivedTimestamp"`
	Done     time.Time `json:"stageTimestamp"`
}

// actor is who sent the request: the impersonated user, else the user.
func (e auditEvent) actor() string {
	if e.ImpersonatedUser != nil {
		return e.ImpersonatedUser.Username
	}
	return e.User.Username
}

func (e auditEvent) ok() bool {
	return e.ResponseStatus != nil && e.ResponseStatus.Code >= 200 && e.ResponseStatus.Code < 300
}

func (e auditEvent) String() string {
	ref := ""
	if e.ObjectRef != nil {
		ref = e.ObjectRef.Resource + "/" + e.ObjectRef.Name
		if e.ObjectRef.Subresource != "" {
			ref += "/" + e.ObjectRef.Subresource
		}
	}
	code := 0
	if e.ResponseStatus != nil {
		code = e.ResponseStatus.Code
	}
	return fmt.Sprintf("%s %s %s %s -> %d", e.Received.Format("15:04:05.000"), e.actor(), e.Verb, ref, code)
}

// auditReader reads the audit log as it grows, keeping the requests of impersonated users (the
// controller replicas): the log holds every write of every test, so it is read once.
type auditReader struct {
	mu     sync.Mutex
	offset int64
	events []auditEvent
}

var audit auditReader

// readAudit returns the audit log's events in namespace ns sent by one of actors, in the
// order they were received.
func readAudit(t *testing.T, ns string, actors ...string) []auditEvent {
	t.Helper()
	if err := audit.update(); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, a := range actors {
		want[a] = true
	}
	audit.mu.Lock()
	defer audit.mu.Unlock()
	var out []auditEvent
	for _, e := range audit.events {
		if e.ObjectRef != nil && e.ObjectRef.Namespace == ns && want[e.actor()] {
			out = append(out, e)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Received.Before(out[j].Received) })
	return out
}

// update reads the lines written since the last call.
func (r *auditReader) update() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	f, err := os.Open(auditLog)
	if err != nil {
		return fmt.Errorf("reading the audit log: %w", err)
	}
	defer f.Close()
	if _, err := f.Seek(r.offset, io.SeekStart); err != nil {
		return fmt.Errorf("reading the audit log: %w", err)
	}
	rd := bufio.NewReaderSize(f, 1<<20)
	for {
		line, err := rd.ReadBytes('\n')
		if err != nil {
			return nil // EOF, or a line not yet complete: read again next time
		}
		r.offset += int64(len(line))
		if !bytes.Contains(line, []byte(`"impersonatedUser"`)) {
			continue
		}
		var e auditEvent
		if err := json.Unmarshal(line, &e); err != nil {
			return fmt.Errorf("audit log line %q: %w", line, err)
		}
		r.events = append(r.events, e)
	}
}

// leadership is what the audit log says of a leader election between replicas.
type leadership struct {
	writes    map[string]int // writes (other than to the Lease) per replica
	foreign   []string       // writes by a replica that did not hold the Lease
	takeovers []time.Time    // when a replica took the Lease from another
}

// leaders replays the audit events: the holder of lease is the replica whose write to it last
// succeeded (only the holder renews it; another replica's write succeeds only when it takes
// over an expired Lease). Every other write must come from the holder at that moment.
func leaders(events []auditEvent, lease string) leadership {
	l := leadership{writes: map[string]int{}}
	type leaseWrite struct {
		at    time.Time
		actor string
	}
	var held []leaseWrite
	for _, e := range events {
		if e.ObjectRef.Resource == "leases" && e.ObjectRef.Name == lease && e.ok() {
			if n := len(held); n > 0 && held[n-1].actor != e.actor() {
				l.takeovers = append(l.takeovers, e.Done)
			}
			held = append(held, leaseWrite{e.Done, e.actor()})
		}
	}
	holder := func(at time.Time) string {
		i := sort.Search(len(held), func(i int) bool { return held[i].at.After(at) })
		if i == 0 {
			return ""
		}
		return held[i-1].actor
	}
	for _, e := range events {
		if e.ObjectRef.Resource == "leases" && e.ObjectRef.Name == lease {
			continue
		}
		l.writes[e.actor()]++
		if h := holder(e.Received); h != e.actor() {
			l.foreign = append(l.foreign, fmt.Sprintf("%s while %q held the Lease", e, h))
		}
	}
	return l
}
