package main

import (
	"context"
	"fmt"
	"net/url"

	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/internal/apiclient"
)

// alertView is the part of GET /api/v1/alerts/{id} the spine benchmark
// reads.
type alertView struct {
	ID       string                       `json:"id"`
	Channels []string                     `json:"channels"`
	Progress map[string]dispatch.Progress `json:"progress"`
	Overall  dispatch.Overall             `json:"overall"`
	Plans    map[string]struct {
		Recipients int `json:"recipients"`
	} `json:"plans"`
}

func fetchAlert(ctx context.Context, c *apiclient.Client, id string) (*alertView, error) {
	var a alertView
	if err := c.Do(ctx, "GET", "/api/v1/alerts/"+url.PathEscape(id), nil, &a); err != nil {
		return nil, fmt.Errorf("warning %s: %w", id, err)
	}
	return &a, nil
}

// done reports whether nothing more will be sent: the server's overall
// phase is done, or only held (offline speakers) or unconfirmed records remain.
func (a *alertView) done() bool {
	return a.Overall.Phase == "done" || a.Overall.Phase == "unconfirmed" || a.Overall.Phase == "held"
}
