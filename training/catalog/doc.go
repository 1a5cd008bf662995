// Package catalog reads the shop's item catalogue: one row per item with
// its category and free attributes, which serving filters on (a category
// and its sub-categories, one brand, a price range, only what is in
// stock). See "Serving" below for what the snapshot keeps of it.
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
// [Decode] reads it back. It is the record of the catalogue as trained
// with (every good row, known to the model or not); serving does not
// read it.
//
// # Serving
//
// train --catalog reads the file once with [Read] and writes, besides
// catalog.jsonl, the catalogue's serving form catalog.idx (store.CatalogFile,
// written by store.Builder.SetCatalog): memory-mapped by the server and
// read in place, nothing decoded at start-up, checked once at open and by
// verify. It keeps only the rows of items the model knows, by the model's
// item row; a model item without a row has no category and no attributes.
// Per item row it stores:
//
//   - the category, its "/"-separated parts trimmed and empty parts
//     dropped (" shoes / running/" is "shoes/running"), as a category id.
//     Every prefix is a category too, created even when no row names it:
//     "shoes/running/trail" implies "shoes/running" and "shoes", and each
//     category's row list holds the rows of its sub-categories, so a filter
//     on "shoes" passes "shoes/running". Names are matched exactly (case
//     included).
//   - every attribute column, in header order: each row's value (trimmed;
//     empty is missing) as a code into the attribute's sorted distinct
//     values, and for each value the rows that have it (an inverted index:
//     "brand equals Acme" or "any of" is a list lookup, "not equals" its
//     complement). A column whose every non-empty value parses as a finite
//     number (strconv.ParseFloat; "59.90", "1e3") is numeric: each row's
//     number is stored too, with the rows sorted by value, so a range
//     ("price between 20 and 50") is a binary search.
//   - the unavailable rows: those whose in_stock or available attribute
//     (name in any case) is false, 0 or no (any case), for serving to leave
//     out of what it recommends.
//
// The recommender evaluates request filters (polecam.v1.ItemFilter:
// categories, excluded categories, attribute conditions) on this index
// through store.Snapshot.Catalog; a snapshot trained without a catalogue
// has none, and filters on it are refused.
package catalog
