package main

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"os"

	"github.com/alertcast/alertcast/internal/apiclient"
)

// speakersEnroll issues device credentials: one device (printing an agent
// config), or every registered device (writing device,credential CSV for
// `speaker --simulate N --credentials FILE`).
func speakersEnroll(ctx context.Context, args []string) error {
	fs := newFlags("speakers enroll")
	all := fs.Bool("all", false, "enroll every registered speaker")
	out := fs.String("out", "", "with --all: write device,credential CSV here (default stdout)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c := apiclient.FromEnv()
	type enrolled struct {
		DeviceID   string `json:"device_id"`
		Credential string `json:"credential"`
		PublicKey  string `json:"public_key"`
	}
	if !*all {
		if fs.NArg() != 1 {
			return errors.New("usage: alertctl speakers enroll DEVICE_ID | --all [--out FILE]")
		}
		var e enrolled
		if err := c.Do(ctx, "POST", "/api/v1/speakers/"+fs.Arg(0)+"/enroll", nil, &e); err != nil {
			return err
		}
		fmt.Printf("# agent config for %s (the credential is shown once)\nurl: %s\ndevice: %s\ncredential: %s\npublic_key: %s\ncache_dir: /var/lib/alertcast-speaker\n",
			e.DeviceID, c.Base, e.DeviceID, e.Credential, e.PublicKey)
		return nil
	}
	var list struct {
		Speakers []struct {
			ID string `json:"id"`
		} `json:"speakers"`
	}
	if err := c.Do(ctx, "GET", "/api/v1/speakers", nil, &list); err != nil {
		return err
	}
	w := os.Stdout
	if *out != "" {
		f, err := os.OpenFile(*out, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"device", "credential"})
	for i, s := range list.Speakers {
		var e enrolled
		if err := c.Do(ctx, "POST", "/api/v1/speakers/"+s.ID+"/enroll", nil, &e); err != nil {
			return fmt.Errorf("enroll %s: %w", s.ID, err)
		}
		_ = cw.Write([]string{e.DeviceID, e.Credential})
		if *out != "" && isTerminal() && i%100 == 0 {
			fmt.Fprintf(os.Stderr, "\renrolled %d/%d", i+1, len(list.Speakers))
		}
	}
	cw.Flush()
	if *out != "" {
		fmt.Fprintf(os.Stderr, "\renrolled %d speakers; credentials in %s (keep it secret)\n", len(list.Speakers), *out)
	}
	return cw.Error()
}
