// Package fileload runs VAN-compatible file-loading jobs: it
// validates a POST /fileLoadingJobs request as a whole, then, in the
// worker, fetches the source file (HTTP(S) through the SSRF guard, SFTP
// with host-key checking, FTP in passive mode) to a spool file, opens the
// CSV (zipped or not, with zip-bomb limits), reads it once, validates every
// row for every action, COPYs the valid rows into a temporary staging table
// and applies every action with set-based SQL, all in one transaction.
//
// Guarantees: a job may run again after a crash at any point. Staging lives
// only inside the transaction; the actions' effects (score updates, their
// values, the per-action result rows) commit with it or not at all, the
// result rows make a later attempt skip the load, and score updates are
// unique per (job, action), so a re-run never duplicates or half-applies
// data. Memory stays flat: the file is streamed from disk and rows go to
// PostgreSQL with COPY as they are read.
//
// Score loads naming people by VANID or DWID take a direct path instead of
// the staging table (direct.go): the file is matched against the people
// chunk by chunk and COPY'd straight into the score update, so a load
// costs about what its file costs whatever the size of the database, and
// the worker holds a few chunks and id sets bounded by Options.ChunkRows
// and Options.SetBytes, never the database's person ids. Phones loads have
// a direct path of their own (phonesdirect.go).
package fileload
