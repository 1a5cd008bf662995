// Package synth writes deterministic synthetic e-commerce event logs, for
// tests, benchmarks and quality experiments that need realistic data without
// real customers.
//
// # The log
//
// [Generate] writes CSV in the format the trainer reads
// (package training/eventlog):
//
//	timestamp,user_id,item_id,event
//	2026-01-01T00:00:40Z,u0412,sku-217,view
//	2026-01-01T00:02:03Z,u0412,sku-035,view
//	2026-01-01T00:02:31Z,u0412,sku-035,add_to_cart
//
// Timestamps are RFC 3339 in UTC with second resolution and the file is sorted
// by time. User ids are "u" and item ids "sku-" followed by a zero-based index
// zero-padded to the number of digits of the largest index (1000 users are
// u000 … u999). Event types are "view", "add_to_cart" and "purchase".
// The file holds exactly Options.Events lines after the header.
//
// # The world behind it
//
// A hidden model, built from Options.Seed, produces the events:
//
//   - Every item belongs to one of Options.Categories categories (category
//     sizes are uneven) and has a latent vector of [Dim] numbers: its
//     category's centroid plus item-specific noise.
//   - Item popularity follows a Zipf law with exponent 1.1 over a random
//     permutation of the items, so a few items take a large share of traffic.
//   - Every user has 1–3 preferred categories, a latent taste vector (a
//     weighted sum of the preferred categories' centroids plus personal
//     noise) and an activity level drawn from a Pareto law (α = 1.5): a few
//     heavy users and many light ones.
//   - Traffic is a sequence of sessions. A session belongs to a user picked by
//     activity, starts at an hour drawn from a day-night curve (weekends are
//     busier) and holds 1–15 item views 15 s to 15 min apart. Most views stay
//     in one category, mostly one the user prefers; within a category 16
//     candidates are drawn by popularity^0.7 and one of them is chosen with
//     weight exp(12·taste·item), so both taste and popularity matter. Eight
//     views in a hundred explore: a globally popular item or a uniformly
//     random one.
//   - Funnel: every item enters a session as a view. A viewed item is added
//     to the cart with probability 0.07–0.17 (higher when the user's affinity
//     for it is high) a few seconds later; at the end of the session each
//     carted item is purchased with probability 0.3–0.5.
//
// Because the structure is low-rank (user taste × item vector) and not just
// popularity, matrix factorisation trained on the log beats a popularity
// ranking on held-out interactions, which is what the quality tests rely on.
//
// # Determinism
//
// The same Options give a byte-identical log, run after run: all randomness
// comes from math/rand/v2 PCG streams seeded from Options.Seed, nothing
// depends on map order or the clock, and the float32 arithmetic forbids fused
// multiply-add so that CPU architectures agree (only tested on amd64).
// [Catalog] rebuilds the same world, so the catalogue's categories match the
// log written with the same Options.
package synth
