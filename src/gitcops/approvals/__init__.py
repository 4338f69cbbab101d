"""Signed approvals kept in Git: an approver signs the digest of an environment's desired state
with an SSH key (`ssh-keygen -Y sign`), the signature travels as a Git note on the commit
(refs/notes/gitcops-approvals), and anyone holding the allowed-signers file can check it.
Also: checking a commit's own SSH or GPG signature as `git verify-commit` does.

model: the signed payload and its strict parser; ssh: sign, verify, fingerprints;
store: notes in and out of a repository; commits: signed commits.
"""
