package main

import (
	"strings"
	"testing"
)

func TestRunRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-undeliv", "0.8", "-expired", "0.5"}, {"-undeliv", "-1"}, {"-nope"}} {
		if err := run(args); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
	if err := run([]string{"-addr", "256.0.0.1:1"}); err == nil || !strings.Contains(err.Error(), "listen") {
		t.Errorf("bad addr: %v", err)
	}
}
