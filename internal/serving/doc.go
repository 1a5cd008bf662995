// Package serving keeps a recommender.Recommender serving the published
// snapshot of a data directory: a Watcher polls the published pointer and
// the tombstone list, loads and verifies every newly published version,
// warms it and swaps it in while requests continue, and hands the current
// set of forgotten users to the recommender.
//
// # Loading a version
//
// Every PollInterval the Watcher reads the published version name (a plain
// file read, so it works on network file systems where change notification
// does not). When it differs from the version being served it:
//
//  1. opens the version read-only, with every checksum verified
//     (Options.VerifyChecksums, on by default);
//  2. builds a recommender.Model (shape and finiteness checks);
//  3. warms it: touches every page of the mapped factor matrices and runs
//     one SimilarItems query, so the first real request pays no page faults;
//  4. swaps it in with recommender.Recommender.Swap and closes the old
//     model in a goroutine it owns: Model.Close waits for the requests
//     still using the old model, so none fails and the watcher is not held
//     up by a slow one.
//
// A version that fails any step is refused: logged at error level and
// counted in polecam_model_load_failures_total, and the model already being
// served keeps serving (health stays SERVING). Publishing another version,
// or rolling back, moves on as usual.
//
// # Availability first
//
// Like TF Serving's availability-preserving policy, a Watcher never stops
// serving because the published version is bad:
//
//   - When the published version cannot be loaded and nothing is being
//     served (a server starting while the published version is corrupt),
//     it serves the newest version of the publish history (store.Dir.History,
//     the versions published before, newest first) that loads. Versions
//     never published (candidates, or ones the quality gate refused) are
//     never fallen back to.
//   - While the published version is not the one served (or nothing is),
//     the Watcher is degraded: polecam_serving_degraded is 1, Status says
//     which version is published, which is served and why, and a warning
//     is logged when this starts and when it ends. Health stays SERVING
//     while any model serves; gRPC health has no place for details.
//   - A refused version is never given up on. It is retried at the first
//     poll after its files change (store.Dir.VersionStamp: the name, size,
//     modification time and inode of every file, so a file restored from a
//     backup is noticed without re-reading the version), and otherwise
//     after Options.RetryBackoff (30 s), doubling with every refusal of
//     the same files up to Options.MaxRetryBackoff (10 min).
//
// # Forgetting users
//
// With Options.Tombstones set, the Watcher also polls the tombstone stamp
// and, when it changes, reads the whole set and installs it with
// recommender.Recommender.SetForgotten, so forgotten users are served as
// unknown visitors by every server reading the data directory within one
// poll interval, without a retrain. Until the set has been read once no
// model is loaded at all: a forgotten user is never served personally
// because the tombstones were unreadable at start-up.
//
// # Metrics
//
//	polecam_model_loads_total               versions loaded and swapped in
//	polecam_model_load_failures_total       loads refused (every attempt counts)
//	polecam_serving_degraded                1 while the published version is not the one served
//	polecam_model_info{version}             1 for the version being served
//	polecam_model_loaded_timestamp_seconds  when it was swapped in
//	polecam_model_load_duration_seconds     how long opening, verifying and warming it took
//	polecam_tombstones_load_failures_total  failed reads of the tombstone list
//	polecam_mapped_bytes                    bytes of snapshot files mapped (store.MappedBytes)
//
// # Lifetime
//
// Start loads synchronously once and then polls in a goroutine; Close stops
// polling, waits for every goroutine the Watcher started, and unloads and
// closes the model being served. Call Close once nothing serves from the
// recommender any more (after the gRPC server has stopped).
package serving
