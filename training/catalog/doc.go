// Package catalog reads the shop's item catalogue: one row per item with
// its category and free attributes, which the serving filters use (only
// in stock, one brand, a price range).
//
// # Format
//
// A catalogue is a CSV file (RFC 4180 quoting; plain, gzip or zstd, detected
// from the first bytes) with a header line. Two columns are required, named
// by [Options] (item_id and category by default; header names are compared
// without case and surrounding spaces); every other column is a free
// attribute named by its header:
//
//	item_id,category,in_stock,brand,price
//	sku-0117,shoes/running,true,Acme,59.90
//	sku-0042,shoes/trail,false,Trailco,89.00
//
// Attribute values are kept as written (trimmed); an empty value means the
// item does not have the attribute. The category may be empty.
//
// # Bad lines
//
// A row with the wrong number of fields, broken quoting, an empty item id,
// an id longer than eventlog.MaxIDLen (1 KiB, the limit of the event logs)
// or an id seen before is counted in [Stats.Bad], a few are kept in
// [Stats.Samples], and the row is skipped; when more than
// [Options.MaxBadRatio] of the rows are bad, [Read] fails with
// [ErrTooManyBadLines]. A missing header or required column fails at once.
//
// # Streaming
//
// [Read] holds one row at a time plus the set of ids seen, and hands each
// good [Item] to a callback in file order.
//
// # Stored form
//
// [Write] stores items as JSON lines, the form a snapshot keeps the
// catalogue in (the auxiliary file [FileName]): one object per item, in
// catalogue order, attributes that are empty left out:
//
//	{"item_id":"sku-0117","category":"shoes/running","attrs":{"brand":"Acme","in_stock":"true","price":"59.90"}}
//
// [Decode] reads it back.
package catalog
