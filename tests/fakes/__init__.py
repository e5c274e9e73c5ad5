"""Hand-written fakes shared by every test package (no mock.patch)."""
