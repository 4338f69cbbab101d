"""Execute a Plan: dependency order, parallel where independent, failures isolated to dependents."""
