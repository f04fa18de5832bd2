// Package fileload runs VAN-compatible file-loading jobs: it validates a
// POST /fileLoadingJobs request as a whole (request.go, submit.go), then,
// in the worker (runner.go), runs each load in steps that read top to
// bottom: build the actions' rules, choose the loader, fetch the source
// (HTTP(S) through the SSRF guard, SFTP with host-key checking, FTP in
// passive mode) to a spool file, open the CSV (zipped or not, with
// zip-bomb limits), then, in one transaction, read the file once,
// validating every row for every action, load the valid rows and apply
// every action, and finally record the outcome and notify the listeners.
//
// How the rows get in is chosen once per load, before the file is
// fetched, by chooseLoader (loader.go), from the load's actions alone:
//
//   - every action a Score naming people by VANID or DWID: the direct
//     score path (direct.go, directsort.go) matches the file against the
//     people chunk by chunk and COPYs the matched rows straight into the
//     score update;
//   - a single phonesFile action: the direct phones path (phonesdirect.go,
//     directrows.go) matches the file chunk by chunk as the score path
//     does, COPYs the one row of a person without phones straight into
//     van_phones, leaves alone the one row of a person that is stored as it
//     is (a re-load writes only what changed) and sends every other row
//     through the phone rules over a staged table;
//   - a single AVEVDataFile action by VANID: the direct AV/EV path
//     (avevdirect.go, directrows.go) matches the file chunk by chunk as
//     the score path does and COPYs each chunk's records straight into
//     van_avev, in place of the records they replace;
//   - a single LoadSavedListFile action: the direct saved-list path
//     (savedlistdirect.go) writes the list, then matches the file the same
//     way and COPYs each chunk's people, once each, straight into its
//     members;
//   - anything else: every valid row is COPY'd into a temporary staging
//     table and each action applies set-based SQL to it.
//
// The choice changes how rows travel, never what a load does: each rule
// is stated once, the row checks in the action's file (score.go,
// phones.go, avev.go, savedlist.go) and the rules across rows where every
// path runs them (the preferred-phone rule is storage's
// DemotePreferredPhones, over whichever table holds the rows it
// concerns), and the tests check
// every direct path against the staging table.
//
// Guarantees: a job may run again after a crash at any point. Staging
// lives only inside the transaction; the actions' effects (score updates,
// their values, phones, AV/EV records, the per-action result rows) commit
// with it or not at all, the result rows make a later attempt skip the
// load, and score updates are unique per (job, action), so a re-run never
// duplicates or half-applies data. Memory stays flat: the file is streamed
// from disk and rows go to PostgreSQL with COPY as they are read; the
// direct paths hold a few chunks and id sets bounded by Options.ChunkRows
// and Options.SetBytes, never the database's person ids.
package fileload
