package websocket

// Coverage is what the hub needs to match subscribers to a warning's area.
// It is declared here, where it is used; targeting serves it
// (targeting.Tree.Scopes()), so the channel never holds the region tree.
type Coverage interface {
	// Known reports whether code is a region a subscriber may follow.
	Known(code string) bool
	// Covers reports whether a warning aimed at area reaches a subscriber of
	// region: one of the area's codes is the region, contains it or lies
	// inside it. An empty area is the whole jurisdiction.
	Covers(area []string, region string) bool
}

// Directory lists the regions a resident chooses from on the page.
type Directory interface {
	// Townships returns every township code, in display order.
	Townships() []string
	// Villages returns a township's village codes, in display order.
	Villages(township string) []string
	// Names returns a region's Chinese and Uyghur names.
	Names(code string) (zh, ug string)
}

// Regions is Config.Regions: coverage for the hub, the directory for the
// resident page.
type Regions interface {
	Coverage
	Directory
}
