package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/alertcast/alertcast/internal/apiclient"
	"github.com/alertcast/alertcast/targeting"
)

// benchSpine measures the spine against a running alertd: the API's accept
// latency for county-wide warnings, and the time from the issue call until
// every delivery record of a county-wide warning is written (drained
// through whatever channel is configured — the outbox by default).
func benchSpine(ctx context.Context, args []string) error {
	fs := newFlags("spine")
	residents := fs.Int("residents", 355544, "synthetic residents to import first (0: use what the server has)")
	samples := fs.Int("accept-samples", 30, "county-wide warnings issued (and cancelled at once) to sample accept latency")
	channels := fs.String("channels", "sms", "channels of the end-to-end warning")
	timeout := fs.Duration("timeout", 5*time.Minute, "give up after")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c := apiclient.FromEnv()
	fmt.Printf("machine: %d cores, %s; server %s\n", runtime.NumCPU(), cpuModel(), c.Base)
	if *residents > 0 {
		var res, spk bytes.Buffer
		t0 := time.Now()
		if err := targeting.GeneratePopulation(targeting.DefaultTree(), targeting.DefaultOutline(), *residents, 0, 1, &res, &spk); err != nil {
			return err
		}
		fmt.Printf("generated %d residents in %s\n", *residents, time.Since(t0).Round(time.Millisecond))
		t0 = time.Now()
		var rep map[string]any
		if err := c.Do(ctx, "POST", "/api/v1/residents/import", bytes.NewReader(res.Bytes()), &rep); err != nil {
			return fmt.Errorf("import: %w", err)
		}
		fmt.Printf("imported through the API in %s (%v stored)\n", time.Since(t0).Round(time.Millisecond), rep["stored"])
	}
	body := func(level string, chans string) []byte {
		b, _ := json.Marshal(map[string]any{
			"event": "sandstorm", "level": level, "status": "exercise",
			"area": map[string]any{"codes": []string{"653122"}}, "channels": splitComma(chans),
			"text": map[string]any{
				"zh": map[string]string{"headline": "疏勒县沙尘暴演练", "instruction": "请关好门窗。"},
				"ug": map[string]string{"headline": "قۇم بورىنى مەشىقى", "instruction": "ئىشىك-دېرىزىلەرنى ئېتىۋېلىڭ."},
			},
			"expires": time.Now().Add(2 * time.Hour).Format(time.RFC3339),
		})
		return b
	}
	// Accept latency: county-wide warnings, each cancelled right away so
	// that the queue is not filled with millions of deliveries.
	var lat []time.Duration
	for i := 0; i < *samples; i++ {
		var a alertView
		t0 := time.Now()
		if err := c.Do(ctx, "POST", "/api/v1/alerts", body("blue", *channels), &a); err != nil {
			return err
		}
		lat = append(lat, time.Since(t0))
		if err := c.Do(ctx, "POST", "/api/v1/alerts/"+a.ID+"/cancel", map[string]string{"reason": "benchmark"}, nil); err != nil {
			return err
		}
	}
	if len(lat) > 0 {
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		fmt.Printf("accept latency, county-wide warning (%d samples): p50 %s  p99 %s  max %s\n", len(lat),
			pct(lat, 0.5), pct(lat, 0.99), lat[len(lat)-1].Round(time.Microsecond))
	}
	// Wait for the cancelled ones to settle before the end-to-end run.
	time.Sleep(2 * time.Second)
	var a alertView
	t0 := time.Now()
	if err := c.Do(ctx, "POST", "/api/v1/alerts", body("blue", *channels), &a); err != nil {
		return err
	}
	accepted := time.Since(t0)
	deadline := time.Now().Add(*timeout)
	var planned time.Duration
	for {
		v, err := fetchAlert(ctx, c, a.ID)
		if err != nil {
			return err
		}
		if planned == 0 && len(v.Plans) == len(v.Channels) {
			planned = time.Since(t0)
		}
		if v.done() {
			total := 0
			for _, p := range v.Progress {
				total += p.Planned
			}
			fmt.Printf("end to end: %d delivery records (%s) accepted in %s, planned in %s, all written and drained in %s\n",
				total, strings.Join(v.Channels, ","), accepted.Round(time.Microsecond), planned.Round(time.Millisecond), time.Since(t0).Round(time.Millisecond))
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not drained after %s: %v", *timeout, v.Progress)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func pct(sorted []time.Duration, p float64) time.Duration {
	i := int(float64(len(sorted)-1) * p)
	return sorted[i].Round(time.Microsecond)
}
