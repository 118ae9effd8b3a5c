package main

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alertcast/alertcast/targeting"
)

func TestGenPopulation(t *testing.T) {
	dir := t.TempDir()
	if err := genPopulation(context.Background(), []string{"--residents", "2000", "--speakers", "300", "--seed", "4", "--out", dir}); err != nil {
		t.Fatal(err)
	}
	count := func(name string) (int, string) {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		n, first := 0, ""
		for sc.Scan() {
			if n == 0 {
				first = sc.Text()
			}
			n++
		}
		return n, first
	}
	if n, first := count("residents.csv"); n != 2002 || !strings.HasPrefix(first, targeting.SyntheticMarker) {
		t.Errorf("residents.csv: %d lines, first %q", n, first)
	}
	if n, _ := count("speakers.csv"); n != 302 {
		t.Errorf("speakers.csv: %d lines", n)
	}
	if n, first := count("shelters.csv"); n != 2+2*len(targeting.DefaultTree().Townships()) || !strings.HasPrefix(first, targeting.SyntheticMarker) {
		t.Errorf("shelters.csv: %d lines, first %q", n, first)
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".*"))
	if len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
	if err := genPopulation(context.Background(), []string{"--residents", "-1", "--out", dir}); err == nil {
		t.Error("negative count accepted")
	}
	if err := genPopulation(context.Background(), []string{"stray"}); err == nil {
		t.Error("stray argument accepted")
	}
}
