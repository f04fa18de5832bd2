// Package fileload runs VAN-compatible file-loading jobs (seed 004): it
// validates a POST /fileLoadingJobs request as a whole, then, in the
// worker, fetches the source file (HTTP(S) through the SSRF guard, SFTP
// with host-key checking, FTP in passive mode) to a spool file, opens the
// CSV (zipped or not, with zip-bomb limits), reads it once, validates every
// row for every action, COPYs the valid rows into a staging table and
// applies each action with set-based SQL in one transaction.
//
// Guarantees: a job may run again after a crash at any point. Staging is
// rebuilt from the file on every attempt; an action's effect (its score
// update, the values, the per-action result row) commits in one transaction
// whose result row makes a later attempt skip it, and score updates are
// unique per (job, action), so a re-run never duplicates or half-applies
// data. Memory stays flat: the file is streamed from disk and rows go to
// PostgreSQL with COPY as they are read.
package fileload
