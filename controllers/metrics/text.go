package metrics

import (
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// appendObjectSeries appends every per-ExternalSecret series to buf in the
// Prometheus text format (version 0.0.4), straight from the records:
// gathering them as client_golang metrics first built half a KiB of objects
// per series on every scrape (about 3 MB for 1000 ExternalSecrets, the
// operator's largest allocation), to be encoded as this text and dropped.
// The lock is held while rendering into memory, never while writing to the
// network, so a slow scraper never stalls a sync.
func (m *Metrics) appendObjectSeries(buf []byte) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	w := &textWriter{buf: slices.Grow(buf, len(m.series)*seriesTextSize)}
	emit := w.sample
	for _, f := range objectFamilies {
		w.family, w.headed = f, false
		for key, s := range m.series {
			w.key = key
			s.each(f, emit)
		}
	}
	return w.buf
}

// seriesTextSize is about the bytes one ExternalSecret's series take as text.
const seriesTextSize = 600

type textWriter struct {
	buf    []byte
	family *family
	headed bool // the family's HELP and TYPE lines are written
	key    objectKey
}

func (w *textWriter) sample(value float64, labels [2]string) {
	f := w.family
	if !w.headed {
		kind := "gauge"
		if f.kind == prometheus.CounterValue {
			kind = "counter"
		}
		w.buf = append(w.buf, "# HELP "+f.name+" "...)
		w.buf = append(w.buf, helpEscaper.Replace(f.help)...)
		w.buf = append(w.buf, "\n# TYPE "+f.name+" "+kind+"\n"...)
		w.headed = true
	}
	w.buf = append(w.buf, f.name...)
	for i, label := range f.sorted {
		if i == 0 {
			w.buf = append(w.buf, '{')
		} else {
			w.buf = append(w.buf, ',')
		}
		w.buf = append(w.buf, label...)
		w.buf = append(w.buf, `="`...)
		w.buf = appendLabelValue(w.buf, w.labelValue(label, labels))
		w.buf = append(w.buf, '"')
	}
	w.buf = append(w.buf, "} "...)
	w.buf = strconv.AppendFloat(w.buf, value, 'g', -1, 64) // +Inf, -Inf and NaN as the format spells them
	w.buf = append(w.buf, '\n')
}

// labelValue is the value of the label named label of the current series.
func (w *textWriter) labelValue(label string, own [2]string) string {
	switch label {
	case "namespace":
		return w.key.namespace
	case "name":
		return w.key.name
	}
	return own[slices.Index(w.family.labels, label)]
}

// The text format escapes backslash and newline in HELP, and also the
// double quote in label values.
var helpEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`)

func appendLabelValue(buf []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\':
			buf = append(buf, `\\`...)
		case '"':
			buf = append(buf, `\"`...)
		case '\n':
			buf = append(buf, `\n`...)
		default:
			buf = append(buf, c)
		}
	}
	return buf
}
