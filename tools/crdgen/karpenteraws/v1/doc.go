// Package v1 is a deliberately small stand-in for the Karpenter AWS provider's karpenter.k8s.aws/v1 API, used
// only to generate an EC2NodeClass CRD with a real schema for the fields this project's manifests use.
//
// Why it exists: github.com/aws/karpenter-provider-aws is not served by the Go module proxy these machines reach,
// so the upstream Go types cannot be loaded (the NodePool and NodeClaim CRDs come from sigs.k8s.io/karpenter's
// own types). The field names, JSON tags, enums and the rules below follow the provider's v1 API
// (pkg/apis/v1: EC2NodeClassSpec, SubnetSelectorTerm, SecurityGroupSelectorTerm, AMISelectorTerm,
// MetadataOptions, BlockDeviceMapping) as its documentation describes it; it is hand-written, so it is a
// probe, not the upstream schema. A field the provider has and this subset lacks is rejected as unknown by a
// strict dry run — extend the subset rather than loosening the schema.
//
// +groupName=karpenter.k8s.aws
// +kubebuilder:object:generate=false
package v1
