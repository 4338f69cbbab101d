"""The HTTP application: webhooks, metrics and health for the agent (and later the REST API
and web UI). It knows the agent only through the hooks it is given."""
