package engine

import "context"

// StartAWSSideForTest brings up the AWS side as PrepareKarpenterAWS does, without the cluster and the built provider
// it checks for, and returns the side's directory and moto's endpoint once it is up.
func (e *Env) StartAWSSideForTest(ctx context.Context, cfg KarpenterConfig) (dir, endpoint string, err error) {
	e.awsAhead = e.startAWSSide(ctx, cfg)
	e.awsAhead.early = true
	side := e.awsAhead.wait()
	if side.run.moto != nil {
		endpoint = side.run.moto.Endpoint()
	}
	return side.dir, endpoint, side.err
}
