package shape

import (
	"fmt"
	"sort"
)

// InstanceType describes one EC2 instance type as EKS sees it.
type InstanceType struct {
	Name      string
	VCPU      int
	MemoryMiB int64
	GPUs      int
	GPUModel  string
	// MaxPods follows the VPC CNI formula ENIs*(IPv4 per ENI - 1) + 2 (eni-max-pods.txt).
	MaxPods int
	// OnDemandUSDPerHour is the us-east-1 Linux on-demand list price.
	OnDemandUSDPerHour float64
}

// GPU reports whether the instance type carries NVIDIA GPUs.
func (t InstanceType) GPU() bool { return t.GPUs > 0 }

func gib(n float64) int64 { return int64(n * 1024) }

func it(name string, vcpu int, memGiB float64, gpus int, model string, maxPods int, price float64) InstanceType {
	return InstanceType{Name: name, VCPU: vcpu, MemoryMiB: gib(memGiB), GPUs: gpus, GPUModel: model,
		MaxPods: maxPods, OnDemandUSDPerHour: price}
}

// instanceTypes is the catalog. Prices: AWS us-east-1 on-demand Linux list prices.
var instanceTypes = []InstanceType{
	// General purpose, burstable.
	it("t3.medium", 2, 4, 0, "", 17, 0.0416),
	it("t3.large", 2, 8, 0, "", 35, 0.0832),
	it("t3.xlarge", 4, 16, 0, "", 58, 0.1664),
	it("t3.2xlarge", 8, 32, 0, "", 58, 0.3328),
	// General purpose.
	it("m5.large", 2, 8, 0, "", 29, 0.096),
	it("m5.xlarge", 4, 16, 0, "", 58, 0.192),
	it("m5.2xlarge", 8, 32, 0, "", 58, 0.384),
	it("m5.4xlarge", 16, 64, 0, "", 234, 0.768),
	it("m6i.large", 2, 8, 0, "", 29, 0.096),
	it("m6i.xlarge", 4, 16, 0, "", 58, 0.192),
	it("m6i.2xlarge", 8, 32, 0, "", 58, 0.384),
	it("m6i.4xlarge", 16, 64, 0, "", 234, 0.768),
	it("m7i.large", 2, 8, 0, "", 29, 0.1008),
	it("m7i.xlarge", 4, 16, 0, "", 58, 0.2016),
	it("m7i.2xlarge", 8, 32, 0, "", 58, 0.4032),
	it("m7i.4xlarge", 16, 64, 0, "", 234, 0.8064),
	// Compute optimised.
	it("c5.large", 2, 4, 0, "", 29, 0.085),
	it("c5.xlarge", 4, 8, 0, "", 58, 0.17),
	it("c5.2xlarge", 8, 16, 0, "", 58, 0.34),
	it("c5.4xlarge", 16, 32, 0, "", 234, 0.68),
	// Memory optimised.
	it("r5.large", 2, 16, 0, "", 29, 0.126),
	it("r5.xlarge", 4, 32, 0, "", 58, 0.252),
	it("r5.2xlarge", 8, 64, 0, "", 58, 0.504),
	it("r5.4xlarge", 16, 128, 0, "", 234, 1.008),
	// NVIDIA GPU.
	it("g4dn.xlarge", 4, 16, 1, "Tesla-T4", 29, 0.526),
	it("g4dn.2xlarge", 8, 32, 1, "Tesla-T4", 29, 0.752),
	it("g4dn.4xlarge", 16, 64, 1, "Tesla-T4", 29, 1.204),
	it("g4dn.8xlarge", 32, 128, 1, "Tesla-T4", 58, 2.176),
	it("g4dn.12xlarge", 48, 192, 4, "Tesla-T4", 234, 3.912),
	it("g5.xlarge", 4, 16, 1, "NVIDIA-A10G", 58, 1.006),
	it("g5.2xlarge", 8, 32, 1, "NVIDIA-A10G", 58, 1.212),
	it("g5.4xlarge", 16, 64, 1, "NVIDIA-A10G", 234, 1.624),
	it("g5.12xlarge", 48, 192, 4, "NVIDIA-A10G", 234, 5.672),
	it("g5.48xlarge", 192, 768, 8, "NVIDIA-A10G", 345, 16.288),
	it("g6.xlarge", 4, 16, 1, "NVIDIA-L4", 58, 0.8048),
	it("g6.2xlarge", 8, 32, 1, "NVIDIA-L4", 58, 0.9776),
	it("g6.4xlarge", 16, 64, 1, "NVIDIA-L4", 234, 1.3232),
	it("g6.12xlarge", 48, 192, 4, "NVIDIA-L4", 234, 4.6016),
	it("p3.2xlarge", 8, 61, 1, "Tesla-V100-SXM2-16GB", 58, 3.06),
	it("p3.8xlarge", 32, 244, 4, "Tesla-V100-SXM2-16GB", 234, 12.24),
	it("p3.16xlarge", 64, 488, 8, "Tesla-V100-SXM2-16GB", 234, 24.48),
	it("p4d.24xlarge", 96, 1152, 8, "NVIDIA-A100-SXM4-40GB", 737, 32.7726),
	it("p5.48xlarge", 192, 2048, 8, "NVIDIA-H100-80GB-HBM3", 100, 98.32),
}

var catalog = func() map[string]InstanceType {
	m := make(map[string]InstanceType, len(instanceTypes))
	for _, t := range instanceTypes {
		m[t.Name] = t
	}
	return m
}()

// Lookup returns the catalog entry for an instance type.
func Lookup(name string) (InstanceType, error) {
	t, ok := catalog[name]
	if !ok {
		return InstanceType{}, fmt.Errorf("unknown instance type %q (the catalog knows %d types, e.g. t3.large, g4dn.xlarge)", name, len(catalog))
	}
	return t, nil
}

// InstanceTypes lists every catalog entry, sorted by name.
func InstanceTypes() []InstanceType {
	out := append([]InstanceType(nil), instanceTypes...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// EKS control plane and NAT gateway list prices (us-east-1), used by cost estimates.
const (
	EKSControlPlaneUSDPerHour = 0.10
	NATGatewayUSDPerHour      = 0.045
)
