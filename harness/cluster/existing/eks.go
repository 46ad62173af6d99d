package existing

import (
	"encoding/base64"
	"fmt"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// EKS describes a real EKS cluster as Terraform's outputs name it.
type EKS struct {
	Name     string
	Endpoint string
	// CAData is cluster_certificate_authority_data: base64 PEM.
	CAData string
	Region string
	// Exec is the command that prints an ExecCredential, e.g. {"/path/bin/harness", "eks-token"}; the cluster and
	// region flags are appended.
	Exec []string
}

// WriteEKSKubeconfig writes a kubeconfig (mode 0600) for the cluster whose user runs e.Exec for a fresh token,
// so long runs outlive the 15-minute token.
func WriteEKSKubeconfig(path string, e EKS) error {
	ca, err := base64.StdEncoding.DecodeString(e.CAData)
	if err != nil {
		return fmt.Errorf("cluster_certificate_authority_data of %s: %w", e.Name, err)
	}
	if len(e.Exec) == 0 {
		return fmt.Errorf("EKS kubeconfig for %s: no token command", e.Name)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[e.Name] = &clientcmdapi.Cluster{Server: e.Endpoint, CertificateAuthorityData: ca}
	cfg.AuthInfos[e.Name] = &clientcmdapi.AuthInfo{Exec: &clientcmdapi.ExecConfig{
		APIVersion:      "client.authentication.k8s.io/v1beta1",
		Command:         e.Exec[0],
		Args:            append(append([]string{}, e.Exec[1:]...), "--cluster", e.Name, "--region", e.Region),
		InteractiveMode: clientcmdapi.NeverExecInteractiveMode,
	}}
	cfg.Contexts[e.Name] = &clientcmdapi.Context{Cluster: e.Name, AuthInfo: e.Name}
	cfg.CurrentContext = e.Name
	return clientcmd.WriteToFile(*cfg, path)
}
