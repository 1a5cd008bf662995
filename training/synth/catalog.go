package synth

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strconv"
)

// CatalogHeader is the first line Catalog writes, without its newline.
const CatalogHeader = "item_id,category,brand,price,in_stock"

// departments are the top-level categories of catalogues, each with the
// sub-categories the log's hidden categories are named after.
var departments = []struct {
	name string
	subs [3]string
}{
	{"electronics", [3]string{"phones", "laptops", "audio"}},
	{"books", [3]string{"fiction", "non-fiction", "children"}},
	{"home-garden", [3]string{"furniture", "lighting", "garden"}},
	{"fashion", [3]string{"women", "men", "accessories"}},
	{"toys", [3]string{"puzzles", "outdoor", "building"}},
	{"sports", [3]string{"fitness", "cycling", "team"}},
	{"beauty", [3]string{"skincare", "makeup", "fragrance"}},
	{"grocery", [3]string{"snacks", "drinks", "pantry"}},
	{"automotive", [3]string{"parts", "care", "tools"}},
	{"music", [3]string{"vinyl", "instruments", "audio"}},
	{"office", [3]string{"paper", "furniture", "tech"}},
	{"pets", [3]string{"dogs", "cats", "fish"}},
	{"health", [3]string{"vitamins", "first-aid", "care"}},
	{"jewellery", [3]string{"rings", "necklaces", "watches"}},
	{"shoes", [3]string{"running", "trail", "casual"}},
	{"baby", [3]string{"clothing", "feeding", "toys"}},
	{"tools", [3]string{"power", "hand", "storage"}},
	{"games", [3]string{"console", "board", "pc"}},
	{"outdoor", [3]string{"camping", "hiking", "climbing"}},
	{"kitchen", [3]string{"cookware", "appliances", "tableware"}},
}

// CategoryName returns the name of category c (0-based) in catalogues: a
// department and one of its sub-categories, "DEPARTMENT/SUB" — three
// consecutive categories share a department ("electronics/phones",
// "electronics/laptops", "electronics/audio", "books/fiction", …) — with
// a numeric suffix on the department once the names run out
// ("electronics-2/phones", …). Serving treats "electronics" as the parent
// of its three sub-categories.
func CategoryName(c int) string {
	per := len(departments[0].subs)
	d := departments[(c/per)%len(departments)]
	name := d.name
	if k := c / (per * len(departments)); k > 0 {
		name += "-" + strconv.Itoa(k+1)
	}
	return name + "/" + d.subs[c%per]
}

// Catalog writes the item catalogue of the world behind the log that
// [Generate] writes for the same opts, as CSV with the header
// [CatalogHeader], one row per item in id order. Categories match the
// log's hidden categories, named hierarchically by [CategoryName]; brands,
// prices (in a currency unit, two decimals) and stock flags (about 7 %
// false) are plausible decoration.
func Catalog(w io.Writer, opts Options) error {
	if err := opts.Validate(); err != nil {
		return err
	}
	o := opts.withDefaults()
	wd := newWorld(o)
	r := newRand(o.Seed, streamCatalog)

	// Each category has its own brands and price level.
	brandBase := make([]int, wd.cats)
	brandN := make([]int, wd.cats)
	priceLevel := make([]float64, wd.cats)
	next := 0
	for c := range wd.cats {
		brandBase[c] = next
		brandN[c] = max(2, len(wd.catItems[c])/15)
		next += brandN[c]
		priceLevel[c] = 2.5 + r.NormFloat64()
	}
	brandWidth := digits(next - 1)

	bw := bufio.NewWriterSize(w, 64<<10)
	bw.WriteString(CatalogHeader + "\n")
	line := make([]byte, 0, 128)
	for i := range wd.items {
		c := int(wd.itemCat[i])
		line = append(line[:0], o.ItemID(i)...)
		line = append(line, ',')
		line = append(line, CategoryName(c)...)
		line = append(line, ",brand-"...)
		line = appendPadded(line, brandBase[c]+r.IntN(brandN[c]), brandWidth)
		line = append(line, ',')
		price := math.Exp(priceLevel[c] + 0.5*r.NormFloat64())
		line = strconv.AppendFloat(line, math.Max(0.5, price), 'f', 2, 64)
		line = append(line, ',')
		line = strconv.AppendBool(line, r.Float64() < 0.93)
		line = append(line, '\n')
		if _, err := bw.Write(line); err != nil {
			return fmt.Errorf("write catalogue: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write catalogue: %w", err)
	}
	return nil
}
