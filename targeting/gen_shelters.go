package targeting

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"

	"github.com/paulmach/orb"
)

// GenerateShelters writes a synthetic shelters CSV (the import format) for
// the population GeneratePopulation writes with the same tree, outline and
// seed: two shelters per township — its first middle school near the
// township centre and a square, stadium, park or mosque courtyard near one
// of its villages — every line marked synthetic, no villages listed (each
// goes to its nearest). Capacities are invented, not a survey's.
func GenerateShelters(t *Tree, outline orb.MultiPolygon, seed int64, w io.Writer) error {
	if len(outline) == 0 {
		return errors.New("gen shelters: empty outline")
	}
	return generateShelters(t, func(string) orb.MultiPolygon { return outline }, seed, w)
}

// GenerateSheltersIn is GenerateShelters over several counties (outlines
// by county code, as for GeneratePopulationIn).
func GenerateSheltersIn(t *Tree, outlines map[string]orb.MultiPolygon, seed int64, w io.Writer) error {
	for _, c := range t.Counties() {
		if len(outlines[c.Code]) == 0 {
			return fmt.Errorf("gen shelters: no outline for county %s", c.Code)
		}
	}
	return generateShelters(t, func(county string) orb.MultiPolygon { return outlines[county] }, seed, w)
}

func generateShelters(t *Tree, outlineOf func(county string) orb.MultiPolygon, seed int64, w io.Writer) error {
	villages := t.Villages()
	if len(villages) == 0 {
		return errors.New("gen shelters: the region tree has no villages")
	}
	// The same stream as generate: the village centres come out the same.
	rng := rand.New(rand.NewPCG(uint64(seed), 0x616c657274636173))
	pl := placeVillages(t, villages, outlineOf, rng)
	byTown := map[string][]vill{}
	for i, v := range villages {
		byTown[v.Parent] = append(byTown[v.Parent], pl.vs[i])
	}
	second := []struct{ kind, zh, ug string }{
		{"outdoor", "文化广场", "مەدەنىيەت مەيدانى"},
		{"stadium", "体育场", "تەنتەربىيە مەيدانى"},
		{"park", "人民公园", "خەلق باغچىسى"},
		{"mosque_courtyard", "清真寺院落", "مەسچىت هويلىسى"},
	}
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "%s data from alertctl gen population --seed %d: invented shelters, locations and capacities for tests and benchmarks; not a survey.\n", SyntheticMarker, seed)
	bw.WriteString("id,name,name_ug,lat,lon,capacity,kind,accessible,contact,villages,synthetic\n")
	for _, tw := range t.Townships() {
		vs := byTown[tw.Code]
		if len(vs) == 0 {
			continue
		}
		c, ok := pl.townCentre[tw.Code]
		if !ok {
			c = vs[0].centre
		}
		school := pl.near(vs[0].code, c, 0.004)
		ugTown := tw.NameUG
		if ugTown == "" {
			ugTown = tw.Name
		}
		fmt.Fprintf(bw, "SH-%s-1,%s第一中学,%s 1-ئوتتۇرا مەكتەپ,%.6f,%.6f,%d,school,true,,,true\n",
			tw.Code, tw.Name, ugTown, school[1], school[0], 1500+100*rng.IntN(26))
		s := second[rng.IntN(len(second))]
		v := vs[rng.IntN(len(vs))]
		p := pl.near(v.code, v.centre, 0.004)
		fmt.Fprintf(bw, "SH-%s-2,%s%s,%s %s,%.6f,%.6f,%d,%s,%t,,,true\n",
			tw.Code, tw.Name, s.zh, ugTown, s.ug, p[1], p[0], 800+100*rng.IntN(33), s.kind, rng.IntN(2) == 0)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("gen shelters: %w", err)
	}
	return nil
}
