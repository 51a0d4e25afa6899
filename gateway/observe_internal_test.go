package gateway

import (
	"context"
	"fmt"
	"testing"

	"github.com/liaison-project/liaison/connectors/objstore"
)

// A compare-and-swap write lost to another replica is contention, not a
// store failure: it must not feed LiaisonStoreFailing (reasons unavailable
// and other), or replicas contending for one record would page someone.
func TestStoreFailureReasons(t *testing.T) {
	for err, want := range map[error]string{
		nil:                  "",
		objstore.ErrNotFound: "",
		fmt.Errorf("put: %w", objstore.ErrConflict):    "conflict",
		fmt.Errorf("put: %w", objstore.ErrExists):      "exists",
		fmt.Errorf("put: %w", objstore.ErrUnavailable): "unavailable",
		context.DeadlineExceeded:                       "unavailable",
		context.Canceled:                               "canceled",
		fmt.Errorf("boom"):                             "other",
	} {
		if got := storeFailure(err); got != want {
			t.Errorf("storeFailure(%v) = %q, want %q", err, got, want)
		}
	}
}
