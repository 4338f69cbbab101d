"""Read a revision's tree from Git objects or, for pre-commit checks, from the work tree."""
