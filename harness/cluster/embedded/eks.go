package embedded

// The kube-apiserver settings that make the emulated control plane accept and admit what EKS's does, kept in
// one place with their source.
//
// Source: "View Amazon EKS platform versions for each Kubernetes version",
// https://docs.aws.amazon.com/eks/latest/userguide/platform-versions.html — every platform version of
// Kubernetes 1.30 and later lists the same enabled admission controllers (ExtendedResourceToleration has been on
// since EKS 1.19: aws/containers-roadmap#739). EKS runs kube-apiserver with --allow-privileged=true (the VPC CNI,
// the EBS CSI driver and the NVIDIA device plugin's MPS daemon need privileged pods), and Pod Security Admission
// at the upstream defaults (enforce privileged, no cluster-wide restriction).
var (
	// eksAdmissionPlugins are passed as --enable-admission-plugins (on top of the upstream defaults, which
	// contain most of them already; NodeRestriction and ExtendedResourceToleration are the additions).
	eksAdmissionPlugins = []string{
		"NodeRestriction", "ExtendedResourceToleration", "NamespaceLifecycle", "LimitRanger", "ServiceAccount",
		"TaintNodesByCondition", "PodSecurity", "Priority", "DefaultTolerationSeconds", "DefaultStorageClass",
		"StorageObjectInUseProtection", "PersistentVolumeClaimResize", "RuntimeClass", "CertificateApproval",
		"CertificateSigning", "CertificateSubjectRestriction", "DefaultIngressClass", "MutatingAdmissionWebhook",
		"ValidatingAdmissionWebhook", "ResourceQuota",
	}
	// eksAllowPrivileged is kube-apiserver's --allow-privileged on EKS.
	eksAllowPrivileged = true
)
