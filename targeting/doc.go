// Package targeting answers "who must hear this warning": which loudspeakers
// and which phones (in which language) are inside an aim of region codes,
// polygons, circles, population groups and languages, and how many, before
// and while a warning is sent.
//
// It holds the administrative region tree (county → township → village,
// 6/9/12-digit NBS codes; Shule County 653122 embedded as the default, see
// data/README.md for sources and licences), the county outline, and an
// in-memory population Index of residents and speakers kept in compressed
// bitmaps (roaring) per village, township, county, group, language and
// opt-out, plus a grid of located entities, so that Resolve is set algebra
// and a few exact point tests, not a scan.
//
// targeting is pure: it never does I/O other than reading what it is given,
// never touches a database or the network, and never imports dispatch. The
// index is rebuilt from the database at start (PutResident/PutSpeaker) and
// kept current incrementally.
//
// # Aims
//
// An Aim's area is the union of its codes (each matching the village itself
// or every village below a township or county), polygons and circles, minus
// every village below an Exclude code. An entity with coordinates is matched
// by the geometry or by its village code; one without coordinates only by its
// village code, and Preview.Unplaced says how many such entities a geometric
// aim could not place. Groups are any-of; languages are any-of; empty means
// all. A resident in several groups is one recipient. Opted-out residents are
// never SMS recipients. Polygons follow CAP 1.2: "lat,lon lat,lon …", closed,
// at least four points, not crossing itself; edges are straight in lat/lon.
// Circles are "lat,lon radius_km", distances are great-circle (haversine).
//
// Coordinates are held at float32 precision (under a metre here); a
// polygon or circle is decided on those stored coordinates. Geometric aims
// use a 0.005° grid: cells wholly inside are taken by bitmap, and only the
// cells an edge (or a circle's rim) passes through are tested point by point
// with orb's ray test and the haversine distance, so the answer is exactly
// what a brute-force scan gives (the property test checks this).
//
// # Using the index
//
//	tree := targeting.DefaultTree()            // or ParseRegions + Merge for more counties
//	ix := targeting.NewIndex(tree)
//	ix.PutResident(r); ix.PutSpeaker(s)        // at start from the database, then on every change
//	res, err := ix.Resolve(aim)                // err: errors.Join of *channels.FieldError, fields like area.codes[1]
//	res.Preview()                              // counts for POST /audience/preview
//	res.ResidentBatches(500, fn)               // ascending ids: batch k is the same after a restart
//
// Imports stream: ReadResidents(r, fn) calls fn per good line. For "nothing
// unless everything is good", read once with fn = ix.CheckResident (which
// validates against the tree without changing the index) and, if the report
// is OK, read again to store; for a partial import, store in the first pass.
//
// # Residents CSV
//
// UTF-8 (with or without BOM), UTF-16 with BOM, or GBK/GB18030 (detected and
// converted); one header row naming the columns, in any order; lines starting
// with # are comments (generated files start with "# SYNTHETIC …"). Columns:
//
//	id        optional  resident id, 1–4294967295; without it (ID 0) the caller (database) assigns ids
//	phone     required  Chinese mobile 1[3-9]xxxxxxxxx, +86…, 0086…, or E.164 (+…); stored as +8613812345678
//	village   required  12-digit village code (must be in the region tree)
//	groups    optional  group codes or Chinese names separated by ; (also ；、|), e.g. herders;elderly
//	language  required  zh or ug (also 中文/汉语, 维吾尔语/维语)
//	opt_out   optional  true/false, 1/0, yes/no, 是/否; blank = false
//	lat, lon  optional  decimal degrees, together or not at all
//
// Chinese headings are accepted too (手机号, 村代码, 人群, 语言, 退订, 纬度, 经度 …).
// A later line with the phone of an earlier line is a duplicate: reported,
// not imported. Every other problem is a LineError naming line, field and
// rule; unknown groups are errors. Columns the reader does not know are
// listed in ImportReport.IgnoredColumns.
//
// # Speakers CSV
//
//	id            required  1–64 letters, digits, . _ : - (e.g. SPK-653122201001-01)
//	village       required  12-digit village code
//	lat, lon      optional  decimal degrees
//	zone          optional  free label of where in the village (market, school, north …)
//	capabilities  optional  ;-separated tokens such as pcm;opus;tts;live
//
// # Groups
//
// herders 牧民, farmers 农民, schools 学校, students 学生, elderly 老年人,
// disabled 残障人士, hazchem 危化品企业, tourists 游客, construction 建筑工地,
// medical 医疗机构, cadres 村干部 (and grid workers), drivers 运输司机.
// See Groups; the list only grows at its end.
package targeting
