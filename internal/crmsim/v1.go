package crmsim

import (
	"cmp"
	"encoding/xml"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// v1 error codes used by the simulator (from Zoho's v1 error table).
const (
	V1CodeRateLimit     = "4820" // API call cannot be completed: "rate limit" exceeded
	V1CodeInvalidTicket = "4834" // invalid ticket (authtoken)
	V1CodeMandatory     = "4401" // mandatory field missing
	V1CodeBadParam      = "4600" // incorrect API parameter or value
	V1CodeMissingParam  = "4831" // missing parameters
	V1CodeXMLParse      = "4835" // XML parsing error
	V1CodeNoData        = "4422" // no records available
	V1CodeAdded         = "2000" // per-row success (version=4)
)

type v1Envelope struct {
	Response v1Response `json:"response"`
}

type v1Response struct {
	Error  *v1Error `json:"error,omitempty"`
	NoData *v1Error `json:"nodata,omitempty"`
	Result any      `json:"result,omitempty"`
	URI    string   `json:"uri"`
}

type v1Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func v1Err(uri, code, msg string) v1Envelope {
	return v1Envelope{Response: v1Response{Error: &v1Error{Code: code, Message: msg}, URI: uri}}
}

// one renders a list the way v1's XML-to-JSON conversion did: a single
// element is an object, several are an array.
func one[T any](xs []T) any {
	if len(xs) == 1 {
		return xs[0]
	}
	return xs
}

type fl struct {
	Val     string `json:"val"`
	Content string `json:"content"`
}

func (s *Server) serveV1(w http.ResponseWriter, r *http.Request) {
	// /crm/private/json/{Module}/{method}
	segs := strings.Split(strings.Trim(strings.TrimPrefix(r.URL.Path, "/crm/private/"), "/"), "/")
	uri := r.URL.Path
	if err := r.ParseForm(); err != nil {
		s.writeJSON(w, http.StatusOK, nil, v1Err(uri, V1CodeBadParam, "the request parameters could not be parsed"))
		return
	}
	token := r.Form.Get("authtoken")
	if token == "" {
		s.writeJSON(w, http.StatusOK, nil, v1Err(uri, V1CodeInvalidTicket, "Invalid Ticket Id"))
		return
	}
	s.mu.Lock()
	now := s.now()
	s.rollV1Locked(now)
	if s.v1Used >= s.cfg.DailyLimit {
		s.st.RateLimitedV1++
		s.mu.Unlock()
		s.writeJSON(w, http.StatusOK, nil, v1Err(uri, V1CodeRateLimit,
			`API call cannot be completed as you have exceeded the "rate limit".`))
		return
	}
	s.v1Used++
	s.st.Admitted++
	s.enterLocked(token, false)
	var body any
	switch {
	case len(segs) != 3 || segs[0] != "json" || !moduleName.MatchString(segs[1]):
		body = v1Err(uri, V1CodeBadParam, "incorrect API parameter or API parameter value; check the method name and URL")
	case segs[2] == "getRecords":
		body = s.v1GetLocked(uri, segs[1], r)
	case segs[2] == "insertRecords":
		body = s.v1InsertLocked(now, uri, segs[1], r)
	default:
		body = v1Err(uri, V1CodeBadParam, "incorrect API parameter or API parameter value; check the method name and URL")
	}
	s.mu.Unlock()

	s.hold(r)
	s.leave(token, false)
	s.writeJSON(w, http.StatusOK, nil, body)
}

func v1IDLabel(mod string) string {
	return strings.ToUpper(strings.TrimSuffix(mod, "s")) + "ID"
}

func (s *Server) v1Time(t time.Time) string {
	return t.In(s.zone).Format("2006-01-02 15:04:05")
}

func (s *Server) v1GetLocked(uri, mod string, r *http.Request) any {
	from, to := 1, 20
	for _, p := range []struct {
		name string
		dst  *int
	}{{"fromIndex", &from}, {"toIndex", &to}} {
		if v := r.Form.Get(p.name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				return v1Err(uri, V1CodeBadParam, p.name+" must be an integer")
			}
			*p.dst = n
		}
	}
	if from < 1 || to < from {
		return v1Err(uri, V1CodeBadParam, "fromIndex and toIndex must satisfy 1 <= fromIndex <= toIndex")
	}
	if to-from+1 > MaxPerPage {
		return v1Err(uri, V1CodeBadParam, "at most 200 records can be read in one request")
	}
	var recs []*Record
	if m := s.modules[mod]; m != nil && from <= len(m.recs) {
		recs = m.recs[from-1 : min(to, len(m.recs))]
	}
	if len(recs) == 0 {
		return v1Envelope{Response: v1Response{NoData: &v1Error{Code: V1CodeNoData, Message: "There is no data to show"}, URI: uri}}
	}
	type row struct {
		No string `json:"no"`
		FL []fl   `json:"FL"`
	}
	rows := make([]row, 0, len(recs))
	for i, rec := range recs {
		fls := []fl{{Val: v1IDLabel(mod), Content: rec.ID}}
		for _, k := range slices.Sorted(maps.Keys(rec.Fields)) {
			fls = append(fls, fl{Val: strings.ReplaceAll(k, "_", " "), Content: stringify(rec.Fields[k])})
		}
		fls = append(fls, fl{Val: "Created Time", Content: s.v1Time(rec.CreatedTime)},
			fl{Val: "Modified Time", Content: s.v1Time(rec.ModifiedTime)})
		rows = append(rows, row{No: strconv.Itoa(from + i), FL: fls})
	}
	return v1Envelope{Response: v1Response{URI: uri, Result: map[string]any{mod: map[string]any{"row": one(rows)}}}}
}

type v1XMLData struct {
	XMLName xml.Name
	Rows    []struct {
		No  string `xml:"no,attr"`
		FLs []struct {
			Val     string `xml:"val,attr"`
			Content string `xml:",chardata"`
		} `xml:"FL"`
	} `xml:"row"`
}

const v1MandatoryMsg = "Unable to populate data, please check if mandatory value is entered correctly."

func (s *Server) v1InsertLocked(now time.Time, uri, mod string, r *http.Request) any {
	xmlData := r.Form.Get("xmlData")
	if strings.TrimSpace(xmlData) == "" {
		return v1Err(uri, V1CodeMissingParam, "the xmlData parameter is missing")
	}
	var doc v1XMLData
	if err := xml.Unmarshal([]byte(xmlData), &doc); err != nil {
		return v1Err(uri, V1CodeXMLParse, "XML parsing error: "+err.Error())
	}
	if len(doc.Rows) == 0 {
		return v1Err(uri, V1CodeMissingParam, "xmlData holds no row")
	}
	if len(doc.Rows) > MaxWriteRecords {
		return v1Err(uri, V1CodeBadParam, "at most 100 records can be inserted in one request")
	}
	rows := make([]map[string]any, len(doc.Rows))
	valid := make([]bool, len(doc.Rows))
	allValid := true
	for i, row := range doc.Rows {
		f := map[string]any{}
		for _, x := range row.FLs {
			f[strings.ReplaceAll(strings.TrimSpace(x.Val), " ", "_")] = x.Content
		}
		rows[i] = f
		valid[i] = validate(mod, i, f, true) == nil
		allValid = allValid && valid[i]
	}
	m := s.moduleLocked(mod)
	detail := func(rec *Record) map[string]any {
		return map[string]any{"FL": []fl{
			{Val: "Id", Content: rec.ID},
			{Val: "Created Time", Content: s.v1Time(rec.CreatedTime)},
			{Val: "Modified Time", Content: s.v1Time(rec.ModifiedTime)},
			{Val: "Created By", Content: simUser["name"].(string)},
			{Val: "Modified By", Content: simUser["name"].(string)},
		}}
	}
	if r.Form.Get("version") == "4" {
		results := make([]map[string]any, 0, len(rows))
		for i, f := range rows {
			no := cmp.Or(doc.Rows[i].No, strconv.Itoa(i+1))
			if !valid[i] {
				s.st.RecordResults[V1CodeMandatory]++
				results = append(results, map[string]any{"no": no,
					"error": map[string]any{"code": V1CodeMandatory, "details": v1MandatoryMsg}})
				continue
			}
			rec := s.storeLocked(m, f, now)
			s.st.RecordResults[V1CodeAdded]++
			results = append(results, map[string]any{"no": no,
				"success": map[string]any{"code": V1CodeAdded, "details": detail(rec)}})
		}
		return v1Envelope{Response: v1Response{URI: uri, Result: map[string]any{"row": one(results)}}}
	}
	if !allValid {
		return v1Err(uri, V1CodeMandatory, v1MandatoryMsg)
	}
	details := make([]map[string]any, 0, len(rows))
	for _, f := range rows {
		details = append(details, detail(s.storeLocked(m, f, now)))
		s.st.RecordResults[V1CodeAdded]++
	}
	return v1Envelope{Response: v1Response{URI: uri, Result: map[string]any{
		"message":      "Record(s) added successfully",
		"recorddetail": one(details),
	}}}
}
