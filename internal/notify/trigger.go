package notify

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"unicode"

	nctrl "github.com/argoproj/notifications-engine/pkg/controller"
	"github.com/argoproj/notifications-engine/pkg/services"
	"github.com/argoproj/notifications-engine/pkg/triggers"

	"github.com/vanedev/vane/api/v1alpha1"
)

// TriggerForReason names the trigger an event reason fires: "on-" and the reason in kebab
// case (RolloutStepCompleted: on-rollout-step-completed, AnalysisRunFailed:
// on-analysis-run-failed). A word starts at an upper-case letter that follows a lower-case
// letter or a digit, or that is followed by a lower-case letter (HTTPError: on-http-error).
func TriggerForReason(reason string) string {
	r := []rune(reason)
	var b strings.Builder
	b.WriteString("on-")
	for i, c := range r {
		if i > 0 && unicode.IsUpper(c) {
			prev := r[i-1]
			nextLower := i+1 < len(r) && unicode.IsLower(r[i+1])
			if unicode.IsLower(prev) || unicode.IsDigit(prev) || nextLower {
				b.WriteByte('-')
			}
		}
		b.WriteRune(unicode.ToLower(c))
	}
	return b.String()
}

// Occurrence identifies one recorded event: a hash of the rollout's status as it was when the
// event was recorded, with the event's type, reason and message. The same event recorded
// again for an unchanged status has the same occurrence; two genuine occurrences differ in
// status (an abort after a retry) or in message (two ReplicaSets scaled in one reconcile).
func Occurrence(ro *v1alpha1.Rollout, eventType, reason, message string) string {
	status, err := json.Marshal(ro.Status)
	if err != nil { // a status always encodes; fall back to the generation
		status = []byte(ro.ResourceVersion)
	}
	h := sha256.New()
	for _, part := range [][]byte{status, []byte(eventType), []byte(reason), []byte(message)} {
		h.Write(part)
		h.Write([]byte{0})
	}
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:12])
}

// StateKey is the key under which a sent notification is recorded in the rollout's
// notified.notifications.argoproj.io annotation: the engine's key (trigger, condition,
// service, recipient; the config's namespace for a self-service config), then the occurrence.
// A condition with oncePer is recorded once per its value, as the engine does, whatever the
// occurrence.
func StateKey(selfService bool, configNamespace, trigger string, res triggers.ConditionResult, dest services.Destination, occurrence string) string {
	key := nctrl.StateItemKey(selfService, configNamespace, trigger, res, dest)
	if res.OncePer != "" {
		return key
	}
	return key + "@" + occurrence
}
