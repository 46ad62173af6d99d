// Package publicdata serves the AWS APIs whose answers are data AWS publishes, for an emulator that does not serve
// them: the Price List API's GetProducts (EC2 on-demand prices) and the public SSM parameters under /aws/service/
// (the EKS-optimized and Bottlerocket AMI IDs); other Price List operations are refused. Every other request is
// forwarded to the emulator unchanged, but for one correction: IAM ListInstanceProfiles is answered filtered by its PathPrefix, which moto ignores (Karpenter's
// instance-profile garbage collector lists /karpenter/<region>/<cluster>/ and deletes what it finds there: on moto
// it found, and deleted, the instance profile Terraform created).
//
// Karpenter's AWS provider calls both before it launches anything (it will not start without on-demand prices,
// and resolves an EC2NodeClass's AMI alias through SSM); moto serves neither. Where the answers come from:
//   - prices: the harness's instance catalog (harness/shape: AWS us-east-1 on-demand Linux list prices) and, for
//     the bare-metal query Karpenter also makes, the list prices in metalPrices;
//   - AMI IDs: copies (CopyImage) of the emulator's own stand-in for the EKS-optimized AMI (moto's catalog image
//     amazon-eks-node-linux, x86_64), one per parameter and named after it, as AWS publishes one image per
//     variant (Karpenter maps each image ID to one variant: standard, nvidia, neuron). The emulator has no arm64
//     EKS image: arm64 parameters are answered ParameterNotFound, as AWS answers a parameter that does not exist.
//     The copies (and the volume and snapshot moto makes for each) live as long as the emulator: meant for a
//     throwaway moto, as the harness runs it.
//
// Given Config.Catalog, it also keeps the emulator's own answers to the EC2 reads moto serves from its static
// catalog (catalogActions) for the life of the process: the first request goes to the emulator, the same request
// in the same region from the same installation gets those bytes again (memo.go).
package publicdata

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/shape"
)

// EKSImageName is the name of the emulator's stand-in for the EKS-optimized AMI (moto's catalog).
const EKSImageName = "amazon-eks-node-linux"

// metalPrices are us-east-1 on-demand Linux list prices of bare-metal types of the catalog's families: Karpenter
// queries bare-metal prices apart (tenancy Dedicated, "Compute Instance (bare metal)") and refuses to start when
// that query finds none.
var metalPrices = map[string]float64{"g4dn.metal": 7.824, "m5.metal": 4.608}

// Config configures a Server.
type Config struct {
	// Emulator is the AWS emulator's endpoint URL: SSM requests other than public parameters go there, and the
	// AMI stand-in is looked up there.
	Emulator string
	// EC2 is a client of the emulator's EC2 (for the AMI look-up); IAM of its IAM.
	EC2 *ec2.Client
	IAM *iam.Client
	// Catalog identifies the emulator's installation (moto's virtualenv, resolved): the answers to catalogActions
	// are kept per Catalog, region and request for the process's life. Empty: every request is forwarded.
	Catalog string
}

// Server is a running public-data endpoint.
type Server struct {
	cfg   Config
	srv   *http.Server
	ln    net.Listener
	proxy *httputil.ReverseProxy

	mu       sync.Mutex        // guards requests
	imageMu  sync.Mutex        // guards image and images (held across the emulator's CopyImage)
	image    string            // the AMI stand-in's ID, once looked up
	images   map[string]string // parameter name -> its copy's ID
	requests map[string]int
}

// Start serves on a free loopback port until Stop.
func Start(cfg Config) (*Server, error) {
	u, err := url.Parse(cfg.Emulator)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("publicdata: emulator endpoint %q is not a URL", cfg.Emulator)
	}
	if cfg.EC2 == nil || cfg.IAM == nil {
		return nil, errors.New("publicdata: Config.EC2 and Config.IAM are required")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, ln: ln, proxy: httputil.NewSingleHostReverseProxy(u), requests: map[string]int{}, images: map[string]string{}}
	s.srv = &http.Server{Handler: s}
	go s.srv.Serve(ln) //nolint:errcheck // Serve returns when Stop closes the listener
	return s, nil
}

// URL is the endpoint (AWS_ENDPOINT_URL_PRICING and AWS_ENDPOINT_URL_SSM point here).
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() }

// Stop closes the server.
func (s *Server) Stop() error { return s.srv.Close() }

// Requests counts the requests answered here (not forwarded), by target ("AWSPriceListService.GetProducts",
// "AmazonSSM.GetParameter").
func (s *Server) Requests() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.requests))
	for k, v := range s.requests {
		out[k] = v
	}
	return out
}

// ServeHTTP answers GetProducts and public GetParameter requests (AWS JSON 1.1) and forwards the rest.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	body, err := io.ReadAll(r.Body)
	if err != nil {
		awsError(w, http.StatusBadRequest, "SerializationException", err.Error())
		return
	}
	switch target {
	case "AWSPriceListService.GetProducts":
		s.count(target)
		s.getProducts(w, body)
		return
	case "AmazonSSM.GetParameter":
		var in struct{ Name string }
		if err := json.Unmarshal(body, &in); err == nil && strings.HasPrefix(in.Name, "/aws/service/") {
			s.count(target)
			s.getParameter(r.Context(), w, in.Name)
			return
		}
	}
	if target == "" && r.Method == http.MethodPost {
		if form, err := url.ParseQuery(string(body)); err == nil && form.Get("Action") == "ListInstanceProfiles" && form.Get("PathPrefix") != "" {
			s.count("IAM.ListInstanceProfiles")
			s.listInstanceProfiles(r.Context(), w, form.Get("PathPrefix"))
			return
		}
	}
	if target == "" && r.Method == http.MethodPost && s.cfg.Catalog != "" {
		if form, err := url.ParseQuery(string(body)); err == nil && catalogActions[form.Get("Action")] {
			s.fromCatalog(w, r, body, form.Get("Action"))
			return
		}
	}
	if strings.HasPrefix(target, "AWSPriceListService.") {
		awsError(w, http.StatusBadRequest, "UnknownOperationException", target+" is not served (only GetProducts)")
		return
	}
	r.Body = io.NopCloser(strings.NewReader(string(body)))
	r.ContentLength = int64(len(body))
	s.proxy.ServeHTTP(w, r)
}

func (s *Server) count(target string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests[target]++
}

type filter struct{ Field, Type, Value string }

// getProducts answers an EC2 GetProducts query with one price-list item per instance type whose attributes
// match every TERM_MATCH filter; the catalog's types are Shared "Compute Instance", metalPrices' Dedicated
// "Compute Instance (bare metal)". Pages of MaxResults (default 100), NextToken the next offset.
func (s *Server) getProducts(w http.ResponseWriter, body []byte) {
	var in struct {
		ServiceCode string
		Filters     []filter
		MaxResults  int
		NextToken   string
	}
	if err := json.Unmarshal(body, &in); err != nil {
		awsError(w, http.StatusBadRequest, "SerializationException", err.Error())
		return
	}
	if in.ServiceCode != "AmazonEC2" {
		awsError(w, http.StatusBadRequest, "InvalidParameterException", "only ServiceCode AmazonEC2 is served here, not "+in.ServiceCode)
		return
	}
	var items []string
	for _, p := range products() {
		if matches(p.attrs, in.Filters) {
			items = append(items, p.item)
		}
	}
	start := 0
	if in.NextToken != "" {
		n, err := strconv.Atoi(in.NextToken)
		if err != nil || n < 0 || n > len(items) {
			awsError(w, http.StatusBadRequest, "InvalidNextTokenException", "bad NextToken "+in.NextToken)
			return
		}
		start = n
	}
	size := in.MaxResults
	if size <= 0 {
		size = 100
	}
	end := min(start+size, len(items))
	out := map[string]any{"FormatVersion": "aws_v1", "PriceList": items[start:end]}
	if end < len(items) {
		out["NextToken"] = strconv.Itoa(end)
	}
	writeJSON(w, out)
}

type product struct {
	attrs map[string]string
	item  string // the price-list item, JSON as the API returns it (a string in PriceList)
}

// products are the price-list items of the catalog's instance types and metalPrices, sorted by type.
func products() []product {
	type entry struct {
		name  string
		price float64
		metal bool
	}
	var es []entry
	for _, t := range shape.InstanceTypes() {
		es = append(es, entry{t.Name, t.OnDemandUSDPerHour, false})
	}
	for n, p := range metalPrices {
		es = append(es, entry{n, p, true})
	}
	sort.Slice(es, func(i, j int) bool { return es[i].name < es[j].name })
	out := make([]product, 0, len(es))
	for _, e := range es {
		attrs := map[string]string{"instanceType": e.name, "regionCode": "", "serviceCode": "AmazonEC2", "preInstalledSw": "NA",
			"operatingSystem": "Linux", "capacitystatus": "Used", "marketoption": "OnDemand", "tenancy": "Shared", "productFamily": "Compute Instance"}
		if e.metal {
			attrs["tenancy"], attrs["productFamily"] = "Dedicated", "Compute Instance (bare metal)"
		}
		sku := strings.ReplaceAll(strings.ToUpper(e.name), ".", "")
		item, _ := json.Marshal(map[string]any{
			"product": map[string]any{"productFamily": attrs["productFamily"], "sku": sku, "attributes": map[string]any{
				"instanceType": e.name, "tenancy": attrs["tenancy"], "operatingSystem": "Linux", "preInstalledSw": "NA",
				"capacitystatus": "Used", "marketoption": "OnDemand", "servicecode": "AmazonEC2"}},
			"serviceCode": "AmazonEC2",
			"terms": map[string]any{"OnDemand": map[string]any{sku + ".JRTCKXETXF": map[string]any{
				"sku": sku, "offerTermCode": "JRTCKXETXF",
				"priceDimensions": map[string]any{sku + ".JRTCKXETXF.6YS6EN2CT7": map[string]any{
					"unit": "Hrs", "description": fmt.Sprintf("$%g per On Demand Linux %s Instance Hour", e.price, e.name),
					"pricePerUnit": map[string]any{"USD": strconv.FormatFloat(e.price, 'f', 7, 64)}}}}}},
		})
		out = append(out, product{attrs: attrs, item: string(item)})
	}
	return out
}

// matches applies TERM_MATCH filters (field names are case-insensitive, as the API treats them); regionCode
// matches any region: the catalog's prices stand for every region the harness emulates.
func matches(attrs map[string]string, fs []filter) bool {
	lower := map[string]string{}
	for k, v := range attrs {
		lower[strings.ToLower(k)] = v
	}
	for _, f := range fs {
		field := strings.ToLower(f.Field)
		if field == "regioncode" || field == "location" {
			continue
		}
		if f.Type != "" && f.Type != "TERM_MATCH" {
			return false
		}
		v, ok := lower[field]
		if !ok || !strings.EqualFold(v, f.Value) {
			return false
		}
	}
	return true
}

var (
	// /aws/service/eks/optimized-ami/{k}/amazon-linux-2023/{arch}/{variant}/recommended/image_id (or a pinned
	// release in place of recommended), and the AL2 names.
	al2023Param = regexp.MustCompile(`^/aws/service/eks/optimized-ami/[0-9]+\.[0-9]+/amazon-linux-2023/(x86_64|arm64)/[a-z]+/[^/]+/image_id$`)
	al2Param    = regexp.MustCompile(`^/aws/service/eks/optimized-ami/[0-9]+\.[0-9]+/amazon-linux-2(-gpu|-arm64)?/[^/]+/image_id$`)
	// /aws/service/bottlerocket/aws-k8s-{k}[-nvidia]/{arch}/{version}/image_id
	bottlerocketParam = regexp.MustCompile(`^/aws/service/bottlerocket/aws-k8s-[0-9]+\.[0-9]+(-nvidia)?/(x86_64|arm64)/[^/]+/image_id$`)
)

// getParameter answers a public parameter that names an EKS node AMI with the emulator's stand-in (x86_64 only);
// any other public parameter is ParameterNotFound.
func (s *Server) getParameter(ctx context.Context, w http.ResponseWriter, name string) {
	arch := ""
	switch {
	case al2023Param.MatchString(name):
		arch = al2023Param.FindStringSubmatch(name)[1]
	case al2Param.MatchString(name):
		arch = "x86_64"
		if al2Param.FindStringSubmatch(name)[1] == "-arm64" {
			arch = "arm64"
		}
	case bottlerocketParam.MatchString(name):
		arch = bottlerocketParam.FindStringSubmatch(name)[2]
	}
	if arch != "x86_64" {
		awsError(w, http.StatusBadRequest, "ParameterNotFound", "parameter "+name+" is not served by the harness (EKS node AMI parameters of x86_64 only: the emulator holds no other EKS image)")
		return
	}
	id, err := s.imageFor(ctx, name)
	if err != nil {
		awsError(w, http.StatusInternalServerError, "InternalServerError", err.Error())
		return
	}
	writeJSON(w, map[string]any{"Parameter": map[string]any{"Name": name, "Type": "String", "Value": id, "Version": 1,
		"ARN": "arn:aws:ssm:us-east-1::parameter" + name, "DataType": "aws:ec2:image"}})
}

// imageFor returns the image a public parameter names: a copy of the emulator's EKS image made for that parameter
// (once), named after it.
func (s *Server) imageFor(ctx context.Context, param string) (string, error) {
	s.imageMu.Lock()
	defer s.imageMu.Unlock()
	if id := s.images[param]; id != "" {
		return id, nil
	}
	src, err := s.eksImage(ctx)
	if err != nil {
		return "", err
	}
	name := strings.TrimSuffix(strings.TrimPrefix(param, "/aws/service/"), "/image_id")
	name = strings.ReplaceAll(name, "/", "-")
	out, err := s.cfg.EC2.CopyImage(ctx, &ec2.CopyImageInput{SourceImageId: aws.String(src), SourceRegion: aws.String(s.cfg.EC2.Options().Region),
		Name: aws.String(name), Description: aws.String("the harness's stand-in for the image SSM parameter " + param + " names (a copy of the emulator's " + EKSImageName + ")")})
	if err != nil {
		return "", fmt.Errorf("copy the emulator's %s image for %s: %w", EKSImageName, param, err)
	}
	s.images[param] = aws.ToString(out.ImageId)
	return s.images[param], nil
}

// eksImage looks up the emulator's EKS node image by name (once); s.imageMu is held.
func (s *Server) eksImage(ctx context.Context) (string, error) {
	if s.image != "" {
		return s.image, nil
	}
	out, err := s.cfg.EC2.DescribeImages(ctx, &ec2.DescribeImagesInput{Filters: []ec2types.Filter{{Name: aws.String("name"), Values: []string{EKSImageName}}}})
	if err != nil {
		return "", fmt.Errorf("look up the emulator's %s image: %w", EKSImageName, err)
	}
	for _, im := range out.Images {
		if im.Architecture == ec2types.ArchitectureValuesX8664 && im.ImageId != nil {
			s.image = *im.ImageId
			return s.image, nil
		}
	}
	return "", fmt.Errorf("the emulator holds no x86_64 image named %s", EKSImageName)
}

// listInstanceProfiles answers IAM ListInstanceProfiles with the emulator's instance profiles whose path starts
// with prefix (the emulator's own answer ignores the prefix).
func (s *Server) listInstanceProfiles(ctx context.Context, w http.ResponseWriter, prefix string) {
	type role struct {
		Path, RoleName, RoleId, Arn string
	}
	type profile struct {
		Path, InstanceProfileName, InstanceProfileId, Arn, CreateDate string
		Roles                                                         []role `xml:"Roles>member"`
	}
	var ps []profile
	pg := iam.NewListInstanceProfilesPaginator(s.cfg.IAM, &iam.ListInstanceProfilesInput{})
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			iamError(w, http.StatusInternalServerError, "ServiceFailure", err.Error())
			return
		}
		for _, p := range page.InstanceProfiles {
			if !strings.HasPrefix(aws.ToString(p.Path), prefix) {
				continue
			}
			out := profile{Path: aws.ToString(p.Path), InstanceProfileName: aws.ToString(p.InstanceProfileName), InstanceProfileId: aws.ToString(p.InstanceProfileId), Arn: aws.ToString(p.Arn)}
			if p.CreateDate != nil {
				out.CreateDate = p.CreateDate.UTC().Format("2006-01-02T15:04:05Z")
			}
			for _, r := range p.Roles {
				out.Roles = append(out.Roles, role{Path: aws.ToString(r.Path), RoleName: aws.ToString(r.RoleName), RoleId: aws.ToString(r.RoleId), Arn: aws.ToString(r.Arn)})
			}
			ps = append(ps, out)
		}
	}
	type result struct {
		IsTruncated      bool
		InstanceProfiles []profile `xml:"InstanceProfiles>member"`
	}
	type response struct {
		XMLName   xml.Name `xml:"https://iam.amazonaws.com/doc/2010-05-08/ ListInstanceProfilesResponse"`
		Result    result   `xml:"ListInstanceProfilesResult"`
		RequestID string   `xml:"ResponseMetadata>RequestId"`
	}
	w.Header().Set("Content-Type", "text/xml")
	_ = xml.NewEncoder(w).Encode(response{Result: result{InstanceProfiles: ps}, RequestID: "publicdata"})
}

// iamError writes an IAM (query protocol) error.
func iamError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	type e struct {
		Type, Code, Message string
	}
	type resp struct {
		XMLName   xml.Name `xml:"ErrorResponse"`
		Error     e
		RequestID string `xml:"RequestId"`
	}
	_ = xml.NewEncoder(w).Encode(resp{Error: e{Type: "Receiver", Code: code, Message: msg}, RequestID: "publicdata"})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(v)
}

// awsError writes an AWS JSON 1.1 error.
func awsError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", code)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": code, "message": msg})
}
