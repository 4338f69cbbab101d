"""Policy as code: Rego policies, the built-in library, exceptions."""
