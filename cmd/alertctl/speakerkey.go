package main

import (
	"context"
	"fmt"

	"github.com/alertcast/alertcast/internal/apiclient"
)

// speakersKey prints the platform's public key, the value of public_key in
// every loudspeaker agent's config (speaker --example-config).
func speakersKey(ctx context.Context, args []string) error {
	fs := newFlags("speakers key")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError("speakers key", "unexpected argument %q", pos[0])
	}
	var out struct {
		PublicKey string `json:"public_key"`
		Algorithm string `json:"algorithm"`
	}
	if err := apiclient.FromEnv().Do(ctx, "GET", "/api/v1/speakers/key", nil, &out); err != nil {
		return fmt.Errorf("speakers key: %w", err)
	}
	if out.PublicKey == "" {
		return fmt.Errorf("speakers key: alertd answered without a public_key")
	}
	fmt.Println(out.PublicKey)
	return nil
}
