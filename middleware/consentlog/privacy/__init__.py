"""Data-subject requests: export and physical erasure of one visitor's rows."""
