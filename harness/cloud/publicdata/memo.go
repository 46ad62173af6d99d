package publicdata

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sync"
)

// catalogActions are the EC2 reads moto answers from data fixed in its installation, never from what a run
// created (moto 5.2: ec2/models/instance_types.py's INSTANCE_TYPES and INSTANCE_TYPE_OFFERINGS; the spot price
// history is built from the offerings with a fixed price and time): the same request in the same region gets the
// same answer from the same installation. Karpenter's AWS provider reads all three when it starts, and moto
// serializing them is most of its CPU in a karpenter step (measured on 2 cores: DescribeInstanceTypes, 1,395 types,
// 5.4–6.8 s of Python per call; DescribeSpotPriceHistory 3.1 s; DescribeInstanceTypeOfferings 0.7 s).
var catalogActions = map[string]bool{"DescribeInstanceTypes": true, "DescribeInstanceTypeOfferings": true, "DescribeSpotPriceHistory": true}

// catalog holds the answers kept for the process: Catalog, region and request body -> *kept.
var catalog sync.Map

type kept struct {
	mu     sync.Mutex // held while the first request is forwarded: the same request meanwhile waits for its answer
	header http.Header
	body   []byte
}

// scope reads the region of a SigV4-signed request (Credential=<key>/<date>/<region>/<service>/aws4_request).
var scope = regexp.MustCompile(`Credential=[^/,\s]+/[^/]+/([^/]+)/`)

// fromCatalog answers a catalogActions request with the emulator's own answer to the same request: the one kept,
// or, the first time, the emulator's (kept when it succeeded; an error is passed on and not kept).
func (s *Server) fromCatalog(w http.ResponseWriter, r *http.Request, body []byte, action string) {
	region := ""
	if m := scope.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
		region = m[1]
	}
	v, _ := catalog.LoadOrStore(s.cfg.Catalog+"\x00"+region+"\x00"+string(body), &kept{})
	k := v.(*kept)
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.body == nil {
		rec := httptest.NewRecorder()
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		s.proxy.ServeHTTP(rec, r)
		res := rec.Result()
		data, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK {
			copyHeader(w.Header(), res.Header)
			w.WriteHeader(res.StatusCode)
			_, _ = w.Write(data)
			return
		}
		k.header, k.body = res.Header.Clone(), data
	} else {
		s.count("EC2." + action + " (kept)")
	}
	copyHeader(w.Header(), k.header)
	_, _ = w.Write(k.body)
}

func copyHeader(dst, src http.Header) {
	for name, vs := range src {
		if name == "Content-Length" {
			continue
		}
		dst[name] = append([]string(nil), vs...)
	}
}
