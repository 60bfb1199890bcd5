package store

// GuardedLookups are the statements that find one row by id and check its
// status, by name, for the plan test.
var GuardedLookups = map[string]string{
	"start a check":             startChecksSQL(1),
	"start checks":              startChecksSQL(4),
	"record answers":            updateChecksSQL(4, updateChecksCasts),
	"start checks, PostgreSQL":  startChecksPGSQL(4, 2, 1),
	"run a verification":        runVerificationSQL,
	"a verification's progress": checkProgressSQL,
}

// SweeperQueries are the sweeper's scans, by name, for the plan test.
var SweeperQueries = map[string]string{
	"stale checks":            staleChecksSQL,
	"checks started by":       startedBySQL,
	"overdue checks":          overdueChecksSQL,
	"unscored verifications":  unscoredSQL,
	"unbundled verifications": unbundledSQL,
}

// ReusedSQL is DocumentReused's query for one document, and RunDigestsSQL
// RunInputs' read of the digests it takes, for the plan test.
var (
	ReusedSQL     = `SELECT ` + reusedSQL(2, 1)
	RunDigestsSQL = runDigestsSQL
)
