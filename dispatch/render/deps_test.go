package render

import (
	"os/exec"
	"strings"
	"testing"
)

// The renderer decides what a programme is; it must not reach the queue,
// a channel's sending side or the composition root. A new import of any of
// these fails here, before it becomes a knot. (Direct imports: what it
// reaches through the dispatch root is that package's business.)
func TestRenderImportsNoSenders(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{join .Imports "\n"}}`, ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	seen := false
	for _, d := range deps {
		if d == "github.com/alertcast/alertcast/audio" {
			seen = true // the positive control: the one arrow it must have
		}
		for _, never := range []string{
			"github.com/alertcast/alertcast/internal/alertd",
			"github.com/hibiken/asynq",
			"github.com/alertcast/alertcast/channels/",
		} {
			if d == never || (strings.HasSuffix(never, "/") && strings.HasPrefix(d, never)) {
				t.Errorf("dispatch/render depends on %s", d)
			}
		}
	}
	if !seen {
		t.Error("dispatch/render does not depend on audio: the listing is wrong")
	}
}
