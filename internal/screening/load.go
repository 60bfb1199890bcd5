package screening

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"

	"github.com/borderproof/borderproof/internal/errs"
)

// The default list: OFAC SDN, January 2019 (see sdn/SOURCE.md).
//
//go:embed sdn/*.csv
var embeddedSDN embed.FS

// OFAC legacy file names.
const (
	fileSDN      = "sdn.csv"
	fileAlt      = "alt.csv"
	fileAdd      = "add.csv"
	fileComments = "sdn_comments.csv"
)

// DefaultFS returns the compiled-in OFAC SDN files (January 2019).
func DefaultFS() fs.FS {
	sub, err := fs.Sub(embeddedSDN, "sdn")
	if err != nil {
		panic(err) // the embedded directory is fixed at build time
	}
	return sub
}

// LoadDefault loads the compiled-in OFAC SDN list (January 2019).
func LoadDefault(ctx context.Context) (*List, error) {
	return Load(ctx, DefaultFS())
}

// LoadDir loads an OFAC legacy SDN list from the files in dir.
func LoadDir(ctx context.Context, dir string) (*List, error) {
	return Load(ctx, os.DirFS(dir))
}

// Load loads an OFAC legacy SDN list from fsys: sdn.csv is required;
// alt.csv (aliases), add.csv (addresses) and sdn_comments.csv (remarks
// that did not fit in sdn.csv) are read when present. The files have no
// header row and "-0-" for an empty field; files that are not UTF-8 are
// read as Windows-1252, OFAC's own encoding.
func Load(ctx context.Context, fsys fs.FS) (*List, error) {
	hash := sha256.New()
	read := func(name string, required bool) ([][]string, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		data, err := fs.ReadFile(fsys, name)
		if errors.Is(err, fs.ErrNotExist) && !required {
			return nil, nil
		}
		if err != nil {
			return nil, errs.Wrap(err, errs.Invalid, "watchlist: cannot read "+name)
		}
		fmt.Fprintf(hash, "%s\n%d\n", name, len(data))
		hash.Write(data)
		rows, err := parseCSV(data)
		if err != nil {
			return nil, errs.Wrap(err, errs.Invalid, "watchlist: malformed "+name)
		}
		return rows, nil
	}
	sdnRows, err := read(fileSDN, true)
	if err != nil {
		return nil, err
	}
	altRows, err := read(fileAlt, false)
	if err != nil {
		return nil, err
	}
	addRows, err := read(fileAdd, false)
	if err != nil {
		return nil, err
	}
	commentRows, err := read(fileComments, false)
	if err != nil {
		return nil, err
	}

	entities := make([]Entity, 0, len(sdnRows))
	byID := make(map[string]int, len(sdnRows))
	for i, row := range sdnRows {
		id, ok := entNum(row)
		if !ok {
			continue
		}
		if len(row) < 12 {
			return nil, errs.E(errs.Invalid, "watchlist: sdn.csv record %d has %d fields, want 12", i+1, len(row))
		}
		if _, dup := byID[id]; dup {
			return nil, errs.E(errs.Invalid, "watchlist: sdn.csv has entry %s twice", id)
		}
		e := Entity{
			ID:          id,
			Name:        field(row, 1),
			Type:        entityType(field(row, 2)),
			Programs:    programs(field(row, 3)),
			Title:       field(row, 4),
			CallSign:    field(row, 5),
			VesselType:  field(row, 6),
			VesselFlag:  field(row, 9),
			VesselOwner: field(row, 10),
			Remarks:     field(row, 11),
		}
		byID[id] = len(entities)
		entities = append(entities, e)
	}
	if len(entities) == 0 {
		return nil, errs.E(errs.Invalid, "watchlist: sdn.csv has no entries")
	}
	for _, row := range commentRows {
		id, ok := entNum(row)
		if !ok || len(row) < 2 {
			continue
		}
		if i, ok := byID[id]; ok {
			// The continuation follows the truncated remarks directly.
			entities[i].Remarks = strings.TrimSpace(entities[i].Remarks + row[1])
		}
	}
	dropped := 0
	for _, row := range altRows {
		id, ok := entNum(row)
		if !ok {
			continue
		}
		i, ok := byID[id]
		name := field(row, 3)
		if !ok || name == "" {
			dropped++
			continue
		}
		entities[i].Aliases = append(entities[i].Aliases, Alias{Name: name, Type: strings.ToLower(field(row, 2))})
	}
	for _, row := range addRows {
		id, ok := entNum(row)
		if !ok {
			continue
		}
		i, ok := byID[id]
		if !ok {
			dropped++
			continue
		}
		a := Address{Address: field(row, 2), CityStateProvincePostal: field(row, 3), Country: field(row, 4)}
		if a != (Address{}) {
			entities[i].Addresses = append(entities[i].Addresses, a)
		}
	}
	countries := newCountryNames()
	for i := range entities {
		applyRemarks(&entities[i], countries)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sum := hash.Sum(nil)
	l := newList(ListNameOFACSDN, "ofac-sdn:"+hex.EncodeToString(sum)[:12], entities)
	l.orphans = dropped
	return l, nil
}

// parseCSV reads all records of an OFAC legacy CSV file.
func parseCSV(data []byte) ([][]string, error) {
	if !utf8.Valid(data) {
		decoded, err := charmap.Windows1252.NewDecoder().Bytes(data)
		if err != nil {
			return nil, err
		}
		data = decoded
	}
	// Some OFAC files end with a DOS end-of-file mark.
	data = bytes.ReplaceAll(data, []byte{0x1a}, nil)
	r := csv.NewReader(bytes.NewReader(data))
	r.LazyQuotes = true
	r.FieldsPerRecord = -1
	var rows [][]string
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return rows, nil
		}
		if err != nil {
			return nil, err
		}
		rows = append(rows, rec)
	}
}

// entNum returns the entity number of a record, or false for a record that
// is not an entry (a blank line).
func entNum(row []string) (string, bool) {
	if len(row) == 0 {
		return "", false
	}
	id := strings.TrimSpace(row[0])
	if _, err := strconv.ParseUint(id, 10, 64); err != nil {
		return "", false
	}
	return id, true
}

// field returns field i trimmed, with OFAC's "-0-" as empty.
func field(row []string, i int) string {
	if i >= len(row) {
		return ""
	}
	v := strings.TrimSpace(row[i])
	if v == "-0-" {
		return ""
	}
	return v
}

func entityType(s string) EntityType {
	switch strings.ToLower(s) {
	case "individual":
		return TypeIndividual
	case "vessel":
		return TypeVessel
	case "aircraft":
		return TypeAircraft
	}
	return TypeEntity
}

// programs splits OFAC's programme field: "SDGT] [IFSR" holds two.
func programs(s string) []string {
	if s == "" {
		return nil
	}
	var out []string
	for _, p := range strings.Split(s, "] [") {
		p = strings.Trim(strings.TrimSpace(p), "[]")
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}
