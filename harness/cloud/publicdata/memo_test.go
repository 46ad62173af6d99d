package publicdata

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCatalogAnswersAreTheEmulatorsKeptForTheProcess: of the catalog reads, the emulator answers each distinct
// request (action, parameters, region) once per installation; every Server of that installation gives its bytes
// again. Anything else — another action, a failed answer, a Server without Config.Catalog — goes to the emulator
// every time.
func TestCatalogAnswersAreTheEmulatorsKeptForTheProcess(t *testing.T) {
	var mu sync.Mutex
	got := map[string]int{}
	emulator := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		key := r.PostForm.Get("Action") + " " + scope.FindStringSubmatch(r.Header.Get("Authorization"))[1]
		bad := r.PostForm.Get("InstanceType.1") == "nothing.here"
		if bad {
			key += " nothing.here"
		}
		mu.Lock()
		got[key]++
		mu.Unlock()
		if bad {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`<Response><Errors><Error><Code>InvalidInstanceType</Code><Message>nothing.here</Message></Error></Errors></Response>`))
			return
		}
		w.Header().Set("Content-Type", "text/xml")
		_, _ = w.Write([]byte(`<DescribeInstanceTypesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><instanceTypeSet><item><instanceType>g4dn.xlarge</instanceType></item></instanceTypeSet></DescribeInstanceTypesResponse>`))
	}))
	defer emulator.Close()
	catalog.Clear()
	defer catalog.Clear()

	server := func(installation string) *Server {
		cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", "")}
		s, err := Start(Config{Emulator: emulator.URL, Catalog: installation,
			EC2: ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.BaseEndpoint = aws.String(emulator.URL) }),
			IAM: iam.NewFromConfig(cfg, func(o *iam.Options) { o.BaseEndpoint = aws.String(emulator.URL) })})
		require.NoError(t, err)
		t.Cleanup(func() { _ = s.Stop() })
		return s
	}
	client := func(s *Server, region string) *ec2.Client {
		return ec2.NewFromConfig(aws.Config{Region: region, BaseEndpoint: aws.String(s.URL()),
			Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", "")})
	}
	types := func(c *ec2.Client) []string {
		out, err := c.DescribeInstanceTypes(context.Background(), &ec2.DescribeInstanceTypesInput{})
		require.NoError(t, err)
		var names []string
		for _, it := range out.InstanceTypes {
			names = append(names, string(it.InstanceType))
		}
		return names
	}

	a, b := server("moto 5.2.5 /venv"), server("moto 5.2.5 /venv")
	var wg sync.WaitGroup
	for range 4 { // at the same time: one goes to the emulator, the others wait for its answer
		wg.Go(func() { assert.Equal(t, []string{"g4dn.xlarge"}, types(client(a, "us-east-1"))) })
	}
	wg.Wait()
	assert.Equal(t, []string{"g4dn.xlarge"}, types(client(b, "us-east-1")), "another Server of the same installation")
	assert.Equal(t, 1, got["DescribeInstanceTypes us-east-1"], "the emulator answered once")
	assert.Equal(t, 4, a.Requests()["EC2.DescribeInstanceTypes (kept)"]+b.Requests()["EC2.DescribeInstanceTypes (kept)"])

	types(client(a, "eu-west-1"))
	assert.Equal(t, 1, got["DescribeInstanceTypes eu-west-1"], "another region is another request")
	types(client(server("moto 5.2.6 /other"), "us-east-1"))
	assert.Equal(t, 2, got["DescribeInstanceTypes us-east-1"], "another installation is asked itself")
	types(client(server(""), "us-east-1"))
	assert.Equal(t, 3, got["DescribeInstanceTypes us-east-1"], "without Config.Catalog every request is forwarded")

	for range 2 {
		_, _ = client(a, "us-east-1").DescribeSubnets(context.Background(), &ec2.DescribeSubnetsInput{}) // the stub's answer is not subnets: only the count matters
	}
	assert.Equal(t, 2, got["DescribeSubnets us-east-1"], "what a run creates is always the emulator's answer")
	for range 2 {
		_, err := client(a, "us-east-1").DescribeInstanceTypes(context.Background(), &ec2.DescribeInstanceTypesInput{InstanceTypes: []ec2types.InstanceType{"nothing.here"}})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "InvalidInstanceType")
	}
	assert.Equal(t, 2, got["DescribeInstanceTypes us-east-1 nothing.here"], "a failed answer is passed on, not kept")
}
