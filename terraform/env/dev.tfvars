# Shared development environment. Overrides only.
environment             = "dev"
artifacts_force_destroy = true
