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

var categoryNames = []string{
	"electronics", "books", "home-garden", "fashion", "toys", "sports",
	"beauty", "grocery", "automotive", "music", "office", "pets",
	"health", "jewellery", "shoes", "baby", "tools", "games", "outdoor", "kitchen",
}

// CategoryName returns the name of category c (0-based) in catalogues:
// a department name, with a numeric suffix once the names run out
// ("books", …, "books-2", …).
func CategoryName(c int) string {
	name := categoryNames[c%len(categoryNames)]
	if k := c / len(categoryNames); k > 0 {
		name += "-" + strconv.Itoa(k+1)
	}
	return name
}

// Catalog writes the item catalogue of the world behind the log that
// [Generate] writes for the same opts, as CSV with the header
// [CatalogHeader], one row per item in id order. Categories match the
// log's hidden categories; brands, prices (in a currency unit, two decimals)
// and stock flags are plausible decoration.
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
