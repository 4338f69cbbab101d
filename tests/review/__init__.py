"""Review findings: each test is a confirmed defect, marked xfail(strict=True)."""
