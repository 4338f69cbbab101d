"""gitcops: a GitOps engine. Git holds the desired state; gitcops reconciles it."""

__version__ = "0.1.0"
