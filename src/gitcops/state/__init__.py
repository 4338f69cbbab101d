"""Inventory, runs, the audit chain and locks; SQLite by default, behind StateStore."""
