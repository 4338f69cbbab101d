"""Read a revision's tree from Git (pygit2) or, for pre-commit checks, from the work tree."""
