package regoinput

// Test hooks: the tests (package regoinput_test, which imports package
// policy for its Input type) check when the JSON fallback is taken.
var (
	ReflectValue = reflectValue
	ErrFallback  = errFallback
)
