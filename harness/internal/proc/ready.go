package proc

import (
	"context"
	"fmt"
	"net/http"
)

// HTTPReady is a Spec.Ready that waits for url to answer 200 (a controller's /readyz): a refused connection or
// another status is ErrNotYet.
func HTTPReady(url string) func(context.Context) error {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrNotYet, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%w: %s answered %d", ErrNotYet, url, resp.StatusCode)
		}
		return nil
	}
}
