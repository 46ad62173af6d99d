package wiring

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/zclconf/go-cty/cty"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/platform"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/tfeval"
)

var (
	// bridgeRef is a use of the bridge in Helm values (platform-app) or in-repo chart templates.
	bridgeRef = regexp.MustCompile(`\.Values\.(?:global\.)?aws((?:\.[A-Za-z0-9_]+)+)`)
	s3Literal = regexp.MustCompile(`s3a?://([A-Za-z0-9][A-Za-z0-9.\-]{2,62})`)
	roleARN   = regexp.MustCompile(`arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]+`)
)

// names: the names the GitOps side uses — bucket, cluster, roles, database — come from one source, Terraform's
// gitops_metadata (the GitOps Bridge): every key the charts, values and workflows use exists there, none of them
// writes such a name itself, and the names the bridge publishes are the ones Terraform's resources really get.
func names(in Input, tree *tfeval.Tree) result.Result {
	const name = "wiring/names"
	p := in.Platform
	var v []string
	leaves := p.Bridge.Leaves
	has := func(path string) bool {
		if _, ok := leaves[path]; ok {
			return true
		}
		for k := range leaves {
			if strings.HasPrefix(k, path+".") {
				return true
			}
		}
		return false
	}
	project := ""
	if pv, ok := tree.Root.Vars()["project"]; ok && pv.IsKnown() && pv.Type() == cty.String {
		project = pv.AsString()
	}
	envName := regexp.MustCompile(`\b` + regexp.QuoteMeta(project) + `-(?:local|dev|prod)\b`)
	files := p.GitOps
	refs := 0
	for _, f := range files {
		for i, line := range strings.Split(string(f.Data), "\n") {
			where := fmt.Sprintf("%s:%d", f.Path, i+1)
			trimmed := strings.TrimSpace(line)
			if strings.HasPrefix(trimmed, "#") || strings.HasPrefix(trimmed, "{{/*") || strings.HasPrefix(trimmed, "{{- /*") {
				continue
			}
			for _, m := range bridgeRef.FindAllStringSubmatch(line, -1) {
				refs++
				if path := strings.TrimPrefix(m[1], "."); !has(path) {
					v = append(v, fmt.Sprintf("%s: uses %s, but the GitOps Bridge (%s) has no %s", where, m[0], p.Bridge.Source, path))
				}
			}
			for _, m := range s3Literal.FindAllStringSubmatch(line, -1) {
				v = append(v, fmt.Sprintf("%s: hard-codes the bucket %q: take it from the GitOps Bridge ({{ .Values.global.aws.artifactsBucket }} in values, ${ARTIFACTS_BUCKET} in manifests, os.environ[\"ARTIFACTS_BUCKET\"] in code)", where, m[1]))
			}
			for _, m := range roleARN.FindAllString(line, -1) {
				v = append(v, fmt.Sprintf("%s: hard-codes the role %s: take it from the GitOps Bridge ({{ .Values.global.aws.roles.<workload> }})", where, m))
			}
			if project != "" {
				for _, m := range envName.FindAllString(line, -1) {
					v = append(v, fmt.Sprintf("%s: hard-codes %q, a name Terraform derives from project and environment: take it from the GitOps Bridge", where, m))
				}
			}
		}
	}
	// The bridge's names are the resources' names.
	buckets, roles := resourceNames(tree)
	if b := leaves["artifactsBucket"]; b != "" && !platform.IsUnknown(b) && !buckets[b] {
		v = append(v, fmt.Sprintf("%s: the GitOps Bridge's artifactsBucket is %q, but no aws_s3_bucket is created with that name (%s): a bucket_prefix makes the name random", p.Bridge.Source, b, describe(buckets)))
	}
	for _, k := range sortedLeaves(leaves, "roles.") {
		arn := leaves[k]
		if rn := arn[strings.LastIndex(arn, "/")+1:]; arn != "" && !platform.IsUnknown(arn) && !roles[rn] {
			v = append(v, fmt.Sprintf("%s: the GitOps Bridge's %s names role %q, which no aws_iam_role is created as (%s)", p.Bridge.Source, k, rn, describe(roles)))
		}
	}
	return verdict(name, v, nil, "%d GitOps Bridge reference(s) in %d file(s) resolve; no hard-coded bucket, role or environment name; the bridge's bucket and %d role(s) are the names Terraform creates",
		refs, len(files), len(sortedLeaves(leaves, "roles.")))
}

// resourceNames evaluates the names of every aws_s3_bucket and aws_iam_role (name, not name_prefix).
func resourceNames(tree *tfeval.Tree) (buckets, roles map[string]bool) {
	buckets, roles = map[string]bool{}, map[string]bool{}
	for typ, c := range map[string]struct {
		into map[string]bool
		attr string
	}{"aws_s3_bucket": {buckets, "bucket"}, "aws_iam_role": {roles, "name"}} {
		eachResource(tree, typ, func(m *tfeval.Module, b *hclsyntax.Block, inst instance) {
			if name, ok := evalString(m, b, c.attr, inst); ok {
				c.into[name] = true
			}
		})
	}
	return buckets, roles
}

func describe(names map[string]bool) string {
	if len(names) == 0 {
		return "none has a fixed name"
	}
	return "fixed names: " + strings.Join(sortedKeys(names), ", ")
}
