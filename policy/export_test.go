package policy

// SyncSuiteRuns is how many Rego suite runs e's loads and reloads waited
// for (tests only).
func SyncSuiteRuns(e *Engine) int64 { return e.syncSuiteRuns.Load() }

// WaitSuite waits for e's background Rego suite run, if any (tests only).
func WaitSuite(e *Engine) { e.suite.wait() }
