"""Typer commands: thin, they call the engine."""
