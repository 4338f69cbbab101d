"""The provider interface and the built-in providers. Providers never import the engine."""
