package cap_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/alertcast/alertcast/dispatch/cap"
)

func ExampleParse() {
	doc := `<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>KS-2026-0001</identifier>
  <sender>qxj@kashi.example.cn</sender>
  <sent>2026-03-02T08:00:00+08:00</sent>
  <status>Actual</status>
  <msgType>Alert</msgType>
  <scope>Public</scope>
  <info>
    <language>zh-CN</language>
    <category>Met</category>
    <event>大风</event>
    <urgency>Expected</urgency>
    <severity>Moderate</severity>
    <certainty>Likely</certainty>
    <area>
      <areaDesc>疏勒县</areaDesc>
      <polygon>39.4,76.0 39.4,76.3 39.2,76.3 39.4,76.1</polygon>
    </area>
  </info>
</alert>`
	_, err := cap.Parse(strings.NewReader(doc))
	fmt.Println(err)
	// Output: cap: alert/info[0]/area[0]/polygon[0]: invalid value: not closed: first point 39.4,76 differs from last point 39.4,76.1
}

func ExampleAlert_Marshal() {
	a := &cap.Alert{
		Identifier: "CN-653122-0001-v1",
		Sender:     "alertcast@alert.example.cn",
		Sent:       time.Date(2026, 3, 2, 8, 0, 0, 0, time.FixedZone("CST", 8*3600)),
		Status:     cap.StatusExercise,
		MsgType:    cap.MsgAlert,
		Scope:      cap.ScopePublic,
		Infos: []cap.Info{{
			Language:   "zh-CN",
			Categories: []cap.Category{cap.CategoryMet},
			Event:      "沙尘暴",
			Urgency:    cap.UrgencyImmediate,
			Severity:   cap.SeveritySevere,
			Certainty:  cap.CertaintyLikely,
			Areas: []cap.Area{{
				Desc:     "疏勒县",
				Geocodes: []cap.NamedValue{{ValueName: "ADCODE", Value: "653122"}},
			}},
		}},
	}
	out, err := a.Marshal()
	if err != nil {
		panic(err)
	}
	fmt.Print(string(out))
	// Output:
	// <?xml version="1.0" encoding="UTF-8"?>
	// <alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
	//   <identifier>CN-653122-0001-v1</identifier>
	//   <sender>alertcast@alert.example.cn</sender>
	//   <sent>2026-03-02T08:00:00+08:00</sent>
	//   <status>Exercise</status>
	//   <msgType>Alert</msgType>
	//   <scope>Public</scope>
	//   <info>
	//     <language>zh-CN</language>
	//     <category>Met</category>
	//     <event>沙尘暴</event>
	//     <urgency>Immediate</urgency>
	//     <severity>Severe</severity>
	//     <certainty>Likely</certainty>
	//     <area>
	//       <areaDesc>疏勒县</areaDesc>
	//       <geocode>
	//         <valueName>ADCODE</valueName>
	//         <value>653122</value>
	//       </geocode>
	//     </area>
	//   </info>
	// </alert>
}
