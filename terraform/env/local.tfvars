# Local environment: the shape the harness emulates by default. Overrides only.
environment = "local"
owner       = "developer"
