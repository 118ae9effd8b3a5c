package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/alertcast/alertcast/targeting"
)

// genPopulation writes a synthetic residents.csv and speakers.csv for Shule
// County (or for a region file given with --regions).
func genPopulation(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("gen population", flag.ContinueOnError)
	residents := fs.Int("residents", 355544, "number of residents (Shule County's 2020 census population by default)")
	speakers := fs.Int("speakers", 3000, "number of village loudspeakers")
	seed := fs.Int64("seed", 1, "random seed; the same seed gives the same files")
	out := fs.String("out", ".", "directory to write residents.csv and speakers.csv into")
	regions := fs.String("regions", "", "region CSV to spread the population over instead of the embedded Shule County (use with --outline)")
	outline := fs.String("outline", "", "GeoJSON outline for the coordinates (default: the embedded Shule County outline)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: alertctl gen population [--residents N] [--speakers N] [--seed N] [--out DIR]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("gen population: unexpected argument %q", fs.Arg(0))
	}
	tree := targeting.DefaultTree()
	if *regions != "" {
		f, err := os.Open(*regions)
		if err != nil {
			return err
		}
		tree, err = targeting.ParseRegions(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", *regions, err)
		}
	}
	shape := targeting.DefaultOutline()
	if *outline != "" {
		data, err := os.ReadFile(*outline)
		if err != nil {
			return err
		}
		if shape, err = targeting.ParseOutline(data); err != nil {
			return fmt.Errorf("%s: %w", *outline, err)
		}
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	resPath, spkPath := filepath.Join(*out, "residents.csv"), filepath.Join(*out, "speakers.csv")
	// Write to temporary names and rename, so an interrupted run leaves no half file.
	resF, err := os.CreateTemp(*out, ".residents-*.csv")
	if err != nil {
		return err
	}
	defer os.Remove(resF.Name())
	spkF, err := os.CreateTemp(*out, ".speakers-*.csv")
	if err != nil {
		resF.Close()
		return err
	}
	defer os.Remove(spkF.Name())
	start := time.Now()
	genErr := make(chan error, 1)
	go func() {
		genErr <- targeting.GeneratePopulation(tree, shape, *residents, *speakers, *seed, resF, spkF)
	}()
	select {
	case err = <-genErr:
	case <-ctx.Done():
		resF.Close()
		spkF.Close()
		<-genErr
		return ctx.Err()
	}
	for _, f := range []*os.File{resF, spkF} {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return err
	}
	if err := os.Rename(resF.Name(), resPath); err != nil {
		return err
	}
	if err := os.Rename(spkF.Name(), spkPath); err != nil {
		return err
	}
	fmt.Printf("wrote %s (%d synthetic residents) and %s (%d speakers) in %s, seed %d\n",
		resPath, *residents, spkPath, *speakers, time.Since(start).Round(time.Millisecond), *seed)
	return nil
}
