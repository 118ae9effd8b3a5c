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
	"github.com/paulmach/orb"
)

// genPopulation writes a synthetic residents.csv, speakers.csv and shelters.csv for Shule
// County (or for a region file given with --regions).
func genPopulation(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("gen population", flag.ContinueOnError)
	residents := fs.Int("residents", 355544, "number of residents (Shule County's 2020 census population by default)")
	speakers := fs.Int("speakers", 3000, "number of village loudspeakers")
	seed := fs.Int64("seed", 1, "random seed; the same seed gives the same files")
	out := fs.String("out", ".", "directory to write residents.csv, speakers.csv and shelters.csv into")
	regions := fs.String("regions", "", "region CSV to spread the population over instead of the embedded Shule County (use with --outline)")
	outline := fs.String("outline", "", "GeoJSON outline for the coordinates (default: the embedded Shule County outline)")
	prefecture := fs.String("prefecture", "", "spread the population over a whole prefecture's embedded counties: 6531 (Kashgar, 12 counties; "+
		"default counts then 4,500,000 residents and 40,000 speakers)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: alertctl gen population [--residents N] [--speakers N] [--seed N] [--out DIR] [--prefecture 6531]")
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
	var outlines map[string]orb.MultiPolygon // by county, with --prefecture
	if *prefecture != "" {
		if *prefecture != targeting.PrefectureCode {
			return fmt.Errorf("gen population: --prefecture %q: only %s (Kashgar) is embedded", *prefecture, targeting.PrefectureCode)
		}
		if *regions != "" || *outline != "" {
			return errors.New("gen population: --prefecture brings its own regions and outlines; drop --regions and --outline")
		}
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["residents"] {
			*residents = 4_500_000
		}
		if !set["speakers"] {
			*speakers = 40_000
		}
	}
	tree := targeting.DefaultTree()
	if *prefecture != "" {
		var err error
		if tree, outlines, err = targeting.PrefectureTree(); err != nil {
			return err
		}
	}
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
		if outlines != nil {
			genErr <- targeting.GeneratePopulationIn(tree, outlines, *residents, *speakers, *seed, resF, spkF)
			return
		}
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
	shelPath := filepath.Join(*out, "shelters.csv")
	if err := writeShelters(shelPath, func(f *os.File) error {
		if outlines != nil {
			return targeting.GenerateSheltersIn(tree, outlines, *seed, f)
		}
		return targeting.GenerateShelters(tree, shape, *seed, f)
	}); err != nil {
		return err
	}
	fmt.Printf("wrote %s (%d synthetic residents), %s (%d speakers) and %s (%d synthetic shelters) in %s, seed %d\n",
		resPath, *residents, spkPath, *speakers, shelPath, 2*len(tree.Townships()), time.Since(start).Round(time.Millisecond), *seed)
	return nil
}

// writeShelters writes the synthetic shelters.csv under a temporary name
// and renames it, like the other files.
func writeShelters(path string, gen func(*os.File) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".shelters-*.csv")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	err = gen(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
