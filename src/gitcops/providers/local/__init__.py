"""The local provider: directories, files, symlinks and health checks under one root directory."""
