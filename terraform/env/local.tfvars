# Local environment: the shape the harness emulates by default. Overrides only.
environment = "local"
owner       = "developer"

# Karpenter launches GPU nodes beyond the GPU node group (the harness runs the real controller, kwok provider).
enable_karpenter = true
