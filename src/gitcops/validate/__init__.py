"""Schemas (from providers), references and graphs; every problem reported with file and field."""
