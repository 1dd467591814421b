"""Sign-in by magic link, sessions and fresh confirmation."""
