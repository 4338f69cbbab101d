"""SOPS files encrypted for age recipients: read, write, rotate; identities and creation rules."""
