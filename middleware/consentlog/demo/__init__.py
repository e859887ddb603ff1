"""Demo website ("Larkspur") used to show consentlog in action."""
