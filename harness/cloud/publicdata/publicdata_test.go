package publicdata

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/pricing"
	pricingtypes "github.com/aws/aws-sdk-go-v2/service/pricing/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func start(t *testing.T, emulator string) *Server {
	t.Helper()
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", "")}
	s, err := Start(Config{Emulator: emulator, EC2: ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.BaseEndpoint = aws.String(emulator) }),
		IAM: iam.NewFromConfig(cfg, func(o *iam.Options) { o.BaseEndpoint = aws.String(emulator) })})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Stop() })
	return s
}

func awsConfig(endpoint string) aws.Config {
	return aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(endpoint), Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", "")}
}

// TestGetProductsAnswersKarpentersQueries: the two on-demand queries Karpenter's pricing provider makes (shared
// "Compute Instance", dedicated bare metal) each find items, paged as the SDK's paginator reads them, with the
// catalog's price in the shape Karpenter parses; a filter nothing matches finds nothing.
func TestGetProductsAnswersKarpentersQueries(t *testing.T) {
	s := start(t, "http://127.0.0.1:1")
	client := pricing.NewFromConfig(awsConfig(s.URL()))
	pages := 0 // read by the paginator, over every query
	query := func(extra ...pricingtypes.Filter) map[string]string {
		fs := []pricingtypes.Filter{}
		for _, kv := range [][2]string{{"regionCode", "eu-west-1"}, {"serviceCode", "AmazonEC2"}, {"preInstalledSw", "NA"},
			{"operatingSystem", "Linux"}, {"capacitystatus", "Used"}, {"marketoption", "OnDemand"}} {
			fs = append(fs, pricingtypes.Filter{Field: aws.String(kv[0]), Type: pricingtypes.FilterTypeTermMatch, Value: aws.String(kv[1])})
		}
		out := map[string]string{}
		p := pricing.NewGetProductsPaginator(client, &pricing.GetProductsInput{ServiceCode: aws.String("AmazonEC2"), Filters: append(fs, extra...), MaxResults: aws.Int32(7)})
		for p.HasMorePages() {
			page, err := p.NextPage(context.Background())
			require.NoError(t, err)
			pages++
			for _, item := range page.PriceList {
				var doc struct {
					Product struct {
						Attributes struct{ InstanceType string } `json:"attributes"`
					} `json:"product"`
					Terms struct {
						OnDemand map[string]struct {
							PriceDimensions map[string]struct {
								PricePerUnit map[string]string `json:"pricePerUnit"`
							} `json:"priceDimensions"`
						} `json:"OnDemand"`
					} `json:"terms"`
				}
				require.NoError(t, json.Unmarshal([]byte(item), &doc))
				for _, term := range doc.Terms.OnDemand {
					for _, dim := range term.PriceDimensions {
						out[doc.Product.Attributes.InstanceType] = dim.PricePerUnit["USD"]
					}
				}
			}
		}
		return out
	}
	tf := func(f, v string) pricingtypes.Filter {
		return pricingtypes.Filter{Field: aws.String(f), Type: pricingtypes.FilterTypeTermMatch, Value: aws.String(v)}
	}
	shared := query(tf("tenancy", "Shared"), tf("productFamily", "Compute Instance"))
	assert.Equal(t, "0.5260000", shared["g4dn.xlarge"])
	assert.Equal(t, "0.0832000", shared["t3.large"])
	assert.Greater(t, len(shared), 7, "more than one page")
	assert.NotContains(t, shared, "g4dn.metal")
	metal := query(tf("tenancy", "Dedicated"), tf("productFamily", "Compute Instance (bare metal)"))
	assert.Equal(t, map[string]string{"g4dn.metal": "7.8240000", "m5.metal": "4.6080000"}, metal)
	assert.Empty(t, query(tf("operatingSystem", "Windows")))
	assert.Equal(t, (len(shared)+6)/7+1+1, pages, "pages of 7: shared, metal, none")
	// Every page was answered here, none forwarded (at least one request per page: the SDK retries a request whose
	// answer it did not read, which a loaded machine can cause).
	assert.GreaterOrEqual(t, s.Requests()["AWSPriceListService.GetProducts"], pages, "GetProducts answered here")
}

// TestGetParameterServesEKSImageParameters: the AMI parameters Karpenter reads for al2023, al2 and bottlerocket
// aliases (x86_64) are answered with copies of the emulator's EKS image, one per parameter (Karpenter maps each
// image ID to one variant) and the same one when asked again; arm64 and other public parameters are
// ParameterNotFound; a parameter outside /aws/service/ goes to the emulator.
func TestGetParameterServesEKSImageParameters(t *testing.T) {
	var forwarded, copies []string
	emu := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Amz-Target") == "AmazonSSM.GetParameter" {
			forwarded = append(forwarded, r.Header.Get("X-Amz-Target"))
			writeJSON(w, map[string]any{"Parameter": map[string]any{"Name": "/mine", "Type": "String", "Value": "from-the-emulator"}})
			return
		}
		if err := r.ParseForm(); err != nil {
			t.Errorf("parse form: %v", err)
		}
		w.Header().Set("Content-Type", "text/xml")
		switch r.Form.Get("Action") {
		case "DescribeImages":
			_, _ = w.Write([]byte(`<DescribeImagesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><imagesSet>` +
				`<item><imageId>ami-arm</imageId><name>amazon-eks-node-linux</name><architecture>arm64</architecture></item>` +
				`<item><imageId>ami-ekslinux</imageId><name>amazon-eks-node-linux</name><architecture>x86_64</architecture></item>` +
				`</imagesSet></DescribeImagesResponse>`))
		case "CopyImage":
			assert.Equal(t, "ami-ekslinux", r.Form.Get("SourceImageId"))
			copies = append(copies, r.Form.Get("Name"))
			_, _ = fmt.Fprintf(w, `<CopyImageResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><imageId>ami-copy-%d</imageId></CopyImageResponse>`, len(copies))
		default:
			t.Errorf("unexpected EC2 action %s", r.Form.Get("Action"))
		}
	}))
	t.Cleanup(emu.Close)
	s := start(t, emu.URL)
	client := ssm.NewFromConfig(awsConfig(s.URL()))
	get := func(name string) (string, error) {
		out, err := client.GetParameter(context.Background(), &ssm.GetParameterInput{Name: aws.String(name)})
		if err != nil {
			return "", err
		}
		return aws.ToString(out.Parameter.Value), nil
	}
	params := []string{
		"/aws/service/eks/optimized-ami/1.35/amazon-linux-2023/x86_64/standard/recommended/image_id",
		"/aws/service/eks/optimized-ami/1.35/amazon-linux-2023/x86_64/nvidia/recommended/image_id",
		"/aws/service/eks/optimized-ami/1.35/amazon-linux-2023/x86_64/standard/amazon-eks-node-al2023-x86_64-standard-1.35-v20261101/image_id",
		"/aws/service/eks/optimized-ami/1.32/amazon-linux-2-gpu/recommended/image_id",
		"/aws/service/bottlerocket/aws-k8s-1.35-nvidia/x86_64/latest/image_id",
	}
	for i, name := range params {
		v, err := get(name)
		require.NoError(t, err, name)
		assert.Equal(t, fmt.Sprintf("ami-copy-%d", i+1), v, name)
	}
	v, err := get(params[1])
	require.NoError(t, err)
	assert.Equal(t, "ami-copy-2", v, "asked again: the same image")
	assert.Equal(t, "eks-optimized-ami-1.35-amazon-linux-2023-x86_64-nvidia-recommended", copies[1])
	for _, name := range []string{
		"/aws/service/eks/optimized-ami/1.35/amazon-linux-2023/arm64/standard/recommended/image_id",
		"/aws/service/bottlerocket/aws-k8s-1.35/arm64/latest/image_id",
		"/aws/service/ami-windows-latest/Windows_Server-2022-English-Core-EKS_Optimized-1.35/image_id",
	} {
		_, err := get(name)
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), "ParameterNotFound", name)
	}
	v, err = get("/mine")
	require.NoError(t, err)
	assert.Equal(t, "from-the-emulator", v)
	assert.Len(t, forwarded, 1)
	assert.Equal(t, 9, s.Requests()["AmazonSSM.GetParameter"])
}

// TestListInstanceProfilesHonoursPathPrefix: moto ignores ListInstanceProfiles' PathPrefix; through the server
// only the profiles under the prefix are listed (Karpenter's garbage collector deletes what it lists), and without
// a prefix the emulator answers as it is.
func TestListInstanceProfilesHonoursPathPrefix(t *testing.T) {
	emu := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil || r.Form.Get("Action") != "ListInstanceProfiles" {
			t.Errorf("unexpected request %v (%v)", r.Form, err)
			http.Error(w, "unexpected", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/xml")
		_, _ = w.Write([]byte(`<ListInstanceProfilesResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><ListInstanceProfilesResult><IsTruncated>false</IsTruncated><InstanceProfiles>` +
			`<member><Path>/</Path><InstanceProfileName>terraforms</InstanceProfileName><InstanceProfileId>A</InstanceProfileId><Arn>arn:aws:iam::123456789012:instance-profile/terraforms</Arn><CreateDate>2026-12-04T00:00:00Z</CreateDate><Roles/></member>` +
			`<member><Path>/karpenter/us-east-1/c/uid/</Path><InstanceProfileName>c_123</InstanceProfileName><InstanceProfileId>B</InstanceProfileId><Arn>arn:aws:iam::123456789012:instance-profile/karpenter/us-east-1/c/uid/c_123</Arn><CreateDate>2026-12-04T00:00:00Z</CreateDate>` +
			`<Roles><member><Path>/</Path><RoleName>node</RoleName><RoleId>R</RoleId><Arn>arn:aws:iam::123456789012:role/node</Arn><CreateDate>2026-12-04T00:00:00Z</CreateDate></member></Roles></member>` +
			`</InstanceProfiles></ListInstanceProfilesResult><ResponseMetadata><RequestId>x</RequestId></ResponseMetadata></ListInstanceProfilesResponse>`))
	}))
	t.Cleanup(emu.Close)
	s := start(t, emu.URL)
	client := iam.NewFromConfig(awsConfig(s.URL()))
	names := func(prefix *string) []string {
		out, err := client.ListInstanceProfiles(context.Background(), &iam.ListInstanceProfilesInput{PathPrefix: prefix})
		require.NoError(t, err)
		var ns []string
		for _, p := range out.InstanceProfiles {
			ns = append(ns, aws.ToString(p.InstanceProfileName))
			if aws.ToString(p.InstanceProfileName) == "c_123" {
				require.Len(t, p.Roles, 1)
				assert.Equal(t, "node", aws.ToString(p.Roles[0].RoleName))
			}
		}
		return ns
	}
	assert.Equal(t, []string{"c_123"}, names(aws.String("/karpenter/us-east-1/c/")))
	assert.Equal(t, []string{"terraforms", "c_123"}, names(nil))
	assert.Equal(t, 1, s.Requests()["IAM.ListInstanceProfiles"])
}
