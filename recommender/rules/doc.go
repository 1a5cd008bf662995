// Package rules applies a shop's merchandising rules to the recommender's
// ranked candidates: boost or bury items, pin items into slots, cap how
// many results one category may have, and keep items a user interacted
// with out of the answers for a while.
//
// # The rules file
//
// A rules file is YAML, or JSON (every JSON document is YAML; the same
// keys apply). It holds one list, rules; each rule has a name (unique,
// shown by explain), an optional scope (the requests it applies to:
// recommend, similar, basket, trending, rank; all of them when left out)
// and exactly one of boost, pin, diversity or exclude:
//
//	rules:
//	  - name: acme-running-up
//	    scope: [recommend, similar]
//	    boost:
//	      multiplier: 1.5            # > 1 boosts, between 0 and 1 buries
//	      match:
//	        categories: [shoes/running]
//	        attributes:
//	          - {name: brand, equals: Acme}
//	  - name: out-of-stock-down
//	    boost:
//	      multiplier: 0.2
//	      match:
//	        attributes: [{name: in_stock, equals: "false"}]
//	  - name: winter-campaign
//	    scope: [recommend]
//	    pin:
//	      - {item: sku-0117, slot: 1}
//	      - {item: sku-0042, slot: 4}
//	  - name: three-per-department
//	    diversity: {depth: 1, max: 3}
//	  - name: consumables-come-back
//	    exclude:
//	      events: [purchase]
//	      match: {categories: [grocery]}
//	      for: 14d
//	  - name: durables-once
//	    exclude: {events: [purchase], for: forever}
//	  - name: views-come-back
//	    exclude: {events: [view], for: 7d}
//
// The same in JSON: {"rules": [{"name": "durables-once", "exclude":
// {"events": ["purchase"], "for": "forever"}}]}.
//
// A match selects items as the API's ItemFilter does. categories (one
// category or a list) holds the items in one of the categories or below
// one: "shoes" matches "shoes" and "shoes/running" but not "shoestring".
// exclude_categories leaves out those in or below one of its categories.
// Each entry of attributes names an attribute and gives exactly one test:
// equals or not_equals a value (an item without the attribute is
// not_equals anything), any_of a list of values, or range {min, max},
// inclusive bounds of which one may be left out, for numeric attributes
// such as price (a value that is not a number is outside every range).
// Values are text as the catalogue stores them: equals: false and equals:
// "false" are the same. All the parts of a match must hold.
//
// Durations are Go durations (36h, 90m) or days (14d, 1.5d).
//
// [Load] and [Parse] check the whole file at once and return every
// problem, joined, each a [Problem] naming the file, the line, the rule
// (its 1-based position and name) and the field, and saying what is
// wrong and what is wanted:
//
//	rules.yaml:9: rule 2 "out-of-stock-down": boost.multiplier: -1 is not above 0; above 1 boosts, between 0 and 1 buries (use an exclusion or a filter to remove items)
//	rules.yaml:14: rule 3 "winter-campaign": pin[1].slot: slot 1 is taken by pin[0]
//	rules.yaml:17: rule 4 "three-per-department": diversity.mux: unknown field; want one of max, depth
//
// Unknown fields are errors: a misspelt key would otherwise silently do
// nothing. A file that has a problem is not used at all.
//
// # Compiling
//
// [Compile] joins a [File] to a catalogue, any [Items] (the recommender
// implements it over its snapshot's catalogue): each boost and exclude
// rule's match becomes a bitset over the item rows, each diversity rule a
// category group per row, each pinned id a row. Requests then test a bit
// per candidate and rule. A new model has new rows: compile again (a
// [Watcher] does it for you). What does not fit the catalogue — a pinned
// id it lacks, an attribute no item has, a match no item passes — is not
// an error, so a model swap never fails on the rules; the rule does
// nothing there and [Rules.Warnings] says so.
//
// A compiled file costs one bit per item row per boost or exclude rule
// and four bytes per row per distinct diversity depth.
//
// # Applying
//
// [Rules.Apply] takes the ranked candidates of one request, with each
// candidate's source (the recommender tier that scored it), and returns
// the final N. Only the rules whose scope holds the request's [Scope]
// apply, in this order:
//
//  1. Exclusions. For each interaction of the request's [History] (item,
//     event type, time), the first exclude rule in file order whose
//     events hold the event type (compared without case) and whose match
//     holds the item decides: forever, or until the rule's window after
//     the interaction has passed at the request's Now. An interaction no
//     exclude rule covers excludes nothing here. An item is excluded when
//     any of its interactions excludes it. So list the narrow rules
//     first: consumables for 14 days, then all purchases forever. Apply
//     only adds exclusions. The recommender leaves out a user's trained
//     items by itself; [Rules.Readmits] lets one back when every one of
//     its interactions is covered by an exclude rule whose window has
//     passed (a view after 7 days, a consumable after its repurchase
//     interval), never one bought under a forever rule or one with an
//     event no rule covers. Items the request itself excludes (the
//     basket, the seeds, its exclude list) never come back.
//  2. Boosts. Each candidate's score is multiplied by the product of the
//     multipliers of the boost rules that match it (a negative score is
//     divided instead, so a multiplier above 1 always raises the score).
//     Scores of different sources are not comparable, so candidates are
//     then re-sorted, by score, best first, only within each run of
//     consecutive candidates of one source, and only in runs where a
//     multiplier applied; equal scores keep the caller's order. A bury
//     cannot move an item of the first source below one of the second,
//     nor a boost the other way.
//  3. Pins. Each pin of each pin rule, in file order, puts its item into
//     its slot (1-based) when the slot is within N and still free, the
//     item is not excluded by step 1 and not pinned already, and the item
//     is a candidate or passes the request's Eligible (the request filter
//     and the recommender's own exclusions; without Eligible only
//     candidates are pinned). A pinned candidate keeps its score and
//     source; another item gets score 0 and the request's PinSource.
//  4. Diversity. The free slots are filled with the remaining candidates
//     in order. A candidate whose category, cut to the rule's depth
//     levels ("shoes" at depth 1 for "shoes/running/trail"), already has
//     the rule's max results (pins included) is passed over, and the
//     next candidates move up; items without a category are never
//     capped. Pins are placed even above a cap.
//
// When the candidates run out the answer is shorter than N and
// [Output].Exhausted is set; a pin whose slot lies beyond the end moves
// up to close the gap. Hand Apply [Rules.Candidates] candidates — N×
// [OverFetch] (3N) when a boost, diversity or exclude rule applies to the
// scope, N otherwise — so boosted items from below the N-th place can rise
// and capped or excluded ones can be replaced.
//
// Each [Result] names the rules applied to it, in file order, for
// explain: the boost rules that matched it, the pin rule that placed it,
// and the diversity rules that passed over a candidate ranked above it
// (which is how it got its place). [Output] also counts the candidates
// excluded and capped.
//
// Candidates must have distinct rows. The answer depends on the request alone. Apply keeps its working memory
// in a pool and writes into a caller's reusable Output, so in the steady
// state it allocates only the History callback.
//
// # History and event times
//
// Exclusion windows need the type and time of each interaction. The
// snapshot keeps, for every trained user, the latest time of each kind
// of event with each training item (store.SeenEventsFile, written by the
// trainer from the log's event types and times); the recommender hands
// them to Apply and Readmits with the request's session items, which
// count as views at the request's time. A snapshot trained from a log
// without event types or times has none: its trained items stay out.
//
// # Reloading
//
// [Watch] loads a file and re-reads it every interval (polling; the
// content's SHA-256 decides whether it changed, so a rewrite with the
// same content, or a touch, is not a reload). A new content that fails to
// parse is logged, counted in [WatchStats], reported to OnChange and
// otherwise ignored: the previous rules stay in force until the file is
// fixed. [Watcher.For] returns the rules in force compiled for a
// catalogue, compiling on first use and keeping the two latest catalogues'
// (the old model's requests and the new one's during a swap). The
// watching goroutine stops with ctx or [Watcher.Close], which waits for
// it.
//
// # Calling it
//
// The recommender keeps one Watcher (serve --rules FILE) and, per
// request, does in effect:
//
//	r := watcher.For(model.Catalogue())            // an Items; cached
//	cands := rank(query, r.Candidates(scope, n))    // the ranking core, over-fetched
//	var out rules.Output                            // pooled by the caller
//	err := r.Apply(rules.ApplyRequest{
//		Scope: rules.ScopeRecommend, N: n, Candidates: cands,
//		History: session, Now: time.Now(),
//		Eligible: filter.Pass, PinSource: pinnedSource,
//	}, &out)
//
// and answers out.Items (with out.Items[i].Rules for explain) and
// out.Exhausted. Calling watcher.For(newModel.Catalogue()) once before a
// new model is published takes the compile off the request path.
package rules
