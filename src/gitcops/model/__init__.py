"""Typed documents, identities, the Project config and the error types every layer shares."""
