package static

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/test/testenv"
)

func terraformFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	require.NoError(t, filepath.WalkDir(testenv.TerraformDir(), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		if strings.HasSuffix(p, ".tf") || strings.HasSuffix(p, ".tfvars") {
			files = append(files, p)
		}
		return nil
	}))
	require.NotEmpty(t, files)
	return files
}

// TestTerraformFmt is `terraform fmt -check` through the formatter Terraform itself uses (hclwrite).
func TestTerraformFmt(t *testing.T) {
	t.Parallel()
	for _, f := range terraformFiles(t) {
		src, err := os.ReadFile(f)
		require.NoError(t, err)
		assert.Equal(t, string(src), string(hclwrite.Format(src)), "%s is not formatted (run terraform fmt -recursive terraform)", f)
	}
}

var (
	variableSchema     = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "variable", LabelNames: []string{"name"}}}}
	variableBodySchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "type"}, {Name: "description"}}}
)

// TestTerraformParsesAndVariablesAreTypedAndDescribed parses every file and checks every variable has a type and
// a description.
func TestTerraformParsesAndVariablesAreTypedAndDescribed(t *testing.T) {
	t.Parallel()
	p := hclparse.NewParser()
	vars := 0
	for _, f := range terraformFiles(t) {
		file, diags := p.ParseHCLFile(f)
		require.False(t, diags.HasErrors(), "%s: %s", f, diags.Error())
		if !strings.HasSuffix(f, ".tf") {
			continue
		}
		content, _, diags := file.Body.PartialContent(variableSchema)
		require.False(t, diags.HasErrors(), diags.Error())
		for _, b := range content.Blocks {
			vars++
			c, _, diags := b.Body.PartialContent(variableBodySchema)
			require.False(t, diags.HasErrors(), diags.Error())
			_, hasType := c.Attributes["type"]
			_, hasDesc := c.Attributes["description"]
			assert.True(t, hasType, "%s: variable %q has no type", b.DefRange, b.Labels[0])
			assert.True(t, hasDesc, "%s: variable %q has no description", b.DefRange, b.Labels[0])
		}
	}
	assert.Greater(t, vars, 20)
}

// TestTerraformLayout checks the files and environments the platform promises exist.
func TestTerraformLayout(t *testing.T) {
	t.Parallel()
	for _, f := range []string{"main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md",
		"env/local.tfvars", "env/dev.tfvars", "env/prod.tfvars",
		"modules/vpc/main.tf", "modules/vpc/README.md", "modules/eks/node_groups.tf", "modules/eks/README.md"} {
		_, err := os.Stat(filepath.Join(testenv.TerraformDir(), f))
		assert.NoError(t, err, f)
	}
}
