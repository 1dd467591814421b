"""Property-based tests (hypothesis): every form and the import, fed hostile input."""
