"""Documents -> overlays -> final desired set for one environment."""
