package cap

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse: Parse never panics, and whatever it accepts can be written
// back as CAP 1.2 that Parse accepts again and that writes identically
// (parse → marshal is a fixed point after one step).
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.xml")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(minimal))
	out, _ := fullAlert().Marshal()
	f.Add(out)
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := ParseBytes(data)
		if err != nil {
			if a != nil {
				t.Fatal("alert returned with error")
			}
			return
		}
		out1, err := a.Marshal()
		if err != nil {
			t.Fatalf("accepted alert does not marshal: %v", err)
		}
		b, err := ParseBytes(out1)
		if err != nil {
			t.Fatalf("our own output is refused: %v\n%s", err, out1)
		}
		out2, err := b.Marshal()
		if err != nil || !bytes.Equal(out1, out2) {
			t.Fatalf("marshal not stable (%v):\n%s\n---\n%s", err, out1, out2)
		}
	})
}
