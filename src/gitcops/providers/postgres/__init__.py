"""The PostgreSQL provider: roles, databases, schemas, grants, default privileges, extensions."""
