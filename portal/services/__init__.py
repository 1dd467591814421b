"""Use cases: take a session, apply the policy, persist."""
