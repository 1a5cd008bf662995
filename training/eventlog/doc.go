// Package eventlog reads the shop's event logs: the views, cart additions
// and purchases the trainer learns from.
//
// # Format
//
// A log is one or more files of delimited text, each starting with a header
// line that names its columns:
//
//	timestamp,user_id,item_id,event
//	2026-11-01T08:15:02Z,u1842,sku-0117,view
//	2026-11-01T08:15:40Z,u1842,sku-0117,add_to_cart
//	1793520940,u0007,sku-2231,purchase
//
// Files are CSV (comma-separated, RFC 4180 quoting) or TSV (tab-separated;
// a quote inside a field is kept as written, a field that starts with a quote
// is read as quoted). [Options.Format] "auto" picks TSV for names ending
// in .tsv, CSV for .csv (either optionally followed by .gz, .zst or .zstd),
// and otherwise looks for a tab in the header line. A file may hold more columns
// than the four that are read, in any order; [Options.Columns] renames the
// four (header names are compared without case and surrounding spaces).
// Spaces around fields are ignored and blank lines are skipped.
//
// # JSON lines
//
// [Options.Format] "jsonl" reads one JSON object a line, with the fields
// named by [Options.Columns] (matched exactly, then without case); other
// fields are ignored:
//
//	{"timestamp":"2026-11-01T08:15:02Z","user_id":"u1842","item_id":"sku-0117","event":"view"}
//	{"timestamp":1793520940,"user_id":7,"item_id":2231,"event":"add_to_cart"}
//
// A field is a string or an integer; anything else (null, a float, an
// object) makes the line bad.
//
// # Retailrocket
//
// [Options.Format] "retailrocket" reads the events.csv of the Retailrocket
// recommender data set: CSV with the header
// timestamp,visitorid,event,itemid,transactionid, timestamps in Unix
// milliseconds and the event types view, addtocart and transaction
// ([RetailrocketColumns]; Options.Columns is not used).
//
// # Access logs
//
// [Options.Format] "access-log" reads web-server logs in the nginx/Apache
// combined format, optionally followed by more quoted fields such as
// nginx's "$http_cookie":
//
//	203.0.113.7 - - [01/Nov/2026:09:15:02 +0100] "GET /p/sku-0117 HTTP/1.1" 200 18234 "-" "Mozilla/5.0 …" "sid=v-9f2c; theme=dark"
//
// [AccessLogOptions.Patterns] say which requests are product events, and
// which: each pattern is [EVENT=][METHOD ]PATH[?QUERY], tried in order, the
// first match wins. EVENT (default "view") must have a weight; METHOD, when
// given, must equal the request's. PATH is matched against the request path
// segment by segment (the number of segments must agree); QUERY is a list
// of KEY=VALUE that must all be among the request's parameters, in any
// order, others being ignored; a pattern without PATH matches any path. In
// a segment or a value, {item} captures the product id (exactly one per
// pattern, not empty, percent-decoded) and * matches any text; each holds
// at most one of them, between literal text:
//
//	/p/{item}                          /p/sku-0117
//	view=/product/{item}/*             /product/sku-0042/red-running-shoe
//	/item-{item}.html                  /item-42.html
//	?sku={item}                        /anything?a=1&sku=sku-0117
//	add_to_cart=POST /cart/add?sku={item}
//
// The visitor is the value of [AccessLogOptions.UserCookie] in the fields
// after the user agent; without it, [AccessLogOptions.UserFallback] tries
// "remote_user" (the authenticated user field) and then "ip" (the client
// address, as "ip:203.0.113.7"). The address is a last resort: people
// behind one proxy or NAT become one visitor and a phone changing networks
// becomes several.
//
// Lines that are well formed but are not events are counted in
// [Stats.Dropped], never as bad lines: responses outside 2xx (Status),
// user agents containing one of [AccessLogOptions.BotAgents] without
// regard to case, or no user agent at all (Bots; [DefaultBotAgents] lists
// bot, crawler, spider, slurp, curl, wget, python-requests and other
// scripted clients), URLs that match no pattern (NoItem) and requests
// without a visitor (NoUser). Checks run in that order. Times are
// converted to UTC.
//
// # MovieLens
//
// [Options.Format] "movielens" reads the ratings of the MovieLens data sets:
// no header, one rating a line as user, item, rating and Unix timestamp in
// seconds, separated by tabs (u.data of MovieLens-100K) or by "::"
// (ratings.dat of MovieLens-1M and -10M):
//
//	7101	5242	3	882485516
//	7102	5302	3	892952309
//
// Every rating is an interaction of type "rating" ([MovieLensType]) with
// weight 1, or the rating itself with [Options.RatingWeights] (then a rating
// of zero or less is a bad line). Options.Weights and Options.Columns are
// not used.
//
// # Timestamps
//
// The timestamp column accepts
//
//   - RFC 3339, with or without fractional seconds: 2026-11-01T08:15:02Z,
//     2026-11-01T09:15:02.250+01:00;
//   - "2006-01-02 15:04:05", taken as UTC: 2026-11-01 08:15:02;
//   - integer Unix time in seconds, or in milliseconds when the number is
//     greater than 10^11 (that is, after 1973 in milliseconds, and not before
//     year 5138 in seconds): 1793520902, 1793520902250.
//
// # Event types and weights
//
// Each event type maps to a confidence weight in [Options.Weights]; a line
// whose type is not in the map is a bad line. The lookup tries the type as
// written, then in lower case. [DefaultWeights] is
//
//	view                          1
//	add_to_cart, cart, addtocart  4
//	purchase, transaction        10
//
// # Compression
//
// Whatever the format, a file may be compressed with gzip or zstd: the
// compression is detected from the magic bytes at its start, not its name.
//
// # Bad lines
//
// Logs from real servers have broken lines. In the line-oriented formats
// (JSON lines, MovieLens, access logs) a line longer than 1 MiB is bad. A
// line with the wrong number of
// fields, broken quoting, an empty user or item, a user or item id longer
// than [MaxIDLen] (1 KiB), a timestamp that does not
// parse or an unknown event type is counted in [Stats.Bad], a few are kept
// in [Stats.Samples] with their file, line number and reason, and the line
// is skipped. When more than [Options.MaxBadRatio] of the data lines are bad,
// [Read] fails with [ErrTooManyBadLines]: something upstream is broken and
// training on what is left would be silently wrong. Structural problems — no
// header, a missing column, a file that cannot be opened or decompressed —
// fail the read at once.
//
// # Streaming
//
// [Read] streams: it holds one line at a time, whatever the size of the
// files, and hands each good [Event] to a callback in file order. Event
// strings are not reused, so the callback may keep them.
// [Options.Progress], if set, hears every 65,536 lines how many lines and
// bytes of how many were read, for a progress bar or a log line.
package eventlog
